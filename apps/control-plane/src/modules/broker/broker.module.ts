import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TenantDb } from '../../database/tenant-db.js';
import { BrokerProvisioning, NoopBrokerProvisioning } from './broker-provisioning.service.js';
import type { DynsecClient } from './dynsec-client.js';
import { DynsecBrokerProvisioning } from './dynsec-provisioning.service.js';

/**
 * Provides BrokerProvisioning: dynamic-security when the bootstrap connected a dynsec client (MQTT_DYNSEC),
 * a no-op otherwise.
 */
@Global()
@Module({})
export class BrokerModule {
  static forRoot(dynsec: DynsecClient | null): DynamicModule {
    return {
      module: BrokerModule,
      providers: [
        dynsec
          ? {
              provide: BrokerProvisioning,
              useFactory: (tenantDb: TenantDb) => new DynsecBrokerProvisioning(dynsec, tenantDb),
              inject: [TenantDb],
            }
          : { provide: BrokerProvisioning, useClass: NoopBrokerProvisioning },
      ],
      exports: [BrokerProvisioning],
    };
  }
}
