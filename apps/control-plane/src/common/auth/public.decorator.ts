import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'medfleet:public';

/** Opts a route out of authentication: only liveness/readiness probes and the API description use it. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);
