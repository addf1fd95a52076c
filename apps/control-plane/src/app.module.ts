import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { AuthGuard } from './common/auth/auth.guard.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { BrokerEndpoint } from './infra/runtime.js';
import { AgentConfigModule } from './modules/agent-config/agent-config.module.js';
import { AgentModule } from './modules/agents/agent.module.js';
import { AlertsModule } from './modules/alerts/alerts.module.js';
import { AuditModule } from './modules/audit/audit.module.js';
import { BrokerModule } from './modules/broker/broker.module.js';
import { CampaignsModule } from './modules/campaigns/campaigns.module.js';
import type { DynsecClient } from './modules/broker/dynsec-client.js';
import { DeviceModule } from './modules/devices/device.module.js';
import { DispatchModule } from './modules/dispatch/dispatch.module.js';
import { EnrollmentModule } from './modules/enrollment/enrollment.module.js';
import { HealthModule } from './modules/health/health.module.js';
import { IdentityModule } from './modules/identity/identity.module.js';
import { IngestModule } from './modules/ingest/ingest.module.js';
import { MaintenanceModule } from './modules/maintenance/maintenance.module.js';
import { OrganizationModule } from './modules/organizations/organization.module.js';
import { PatchJobsModule } from './modules/patch-jobs/patch-jobs.module.js';
import { SiteModule } from './modules/sites/site.module.js';
import { TenantModule } from './modules/tenants/tenant.module.js';

export interface AppModuleOptions {
  config: AppConfig;
  dataSource: DataSource;
  broker: BrokerEndpoint;
  /** Connected when MQTT_DYNSEC=true: agents are provisioned on Mosquitto's dynamic-security plugin. */
  dynsec?: DynsecClient | null;
}

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(options.config),
        DatabaseModule.forRoot(options.dataSource, options.broker),
        BrokerModule.forRoot(options.dynsec ?? null),
        AuditModule,
        OrganizationModule,
        IdentityModule,
        TenantModule,
        SiteModule,
        EnrollmentModule,
        AgentModule,
        DeviceModule,
        IngestModule,
        AgentConfigModule,
        AlertsModule,
        MaintenanceModule,
        CampaignsModule,
        DispatchModule,
        PatchJobsModule,
        HealthModule,
      ],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
    };
  }
}
