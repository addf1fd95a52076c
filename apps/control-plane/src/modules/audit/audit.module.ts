import { Global, Logger, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { APP_CONFIG } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { AuditContextInterceptor, AuditRequestContext } from './audit-context.js';
import { AuditSigner } from './audit-signer.js';
import { AuditController } from './audit.controller.js';
import { AuditRepository } from './audit.repository.js';
import { AuditService } from './audit.service.js';

/** Global: every module that changes something records it through AuditService. */
@Global()
@Module({
  controllers: [AuditController],
  providers: [
    AuditRepository,
    AuditRequestContext,
    {
      provide: AuditSigner,
      useFactory: (config: AppConfig) => AuditSigner.load(config, new Logger('Audit')),
      inject: [APP_CONFIG],
    },
    AuditService,
    { provide: APP_INTERCEPTOR, useClass: AuditContextInterceptor },
  ],
  exports: [AuditService],
})
export class AuditModule {}
