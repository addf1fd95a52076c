import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';

export const IS_PUBLIC = 'medfleet:public';

/**
 * Opts a route out of authentication: only probes, the API description and the sign-in steps use it.
 * The OpenAPI document marks such routes with `x-medfleet-public`, so tests can tell them apart.
 */
export const Public = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IS_PUBLIC, true), ApiExtension('x-medfleet-public', true));
