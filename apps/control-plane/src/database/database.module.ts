import { Global, Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BrokerEndpoint } from '../infra/runtime.js';
import { AuthenticationService } from '../common/auth/authentication.service.js';
import { TenantDb } from './tenant-db.js';

/** Provides the application's data source (opened by the bootstrap), TenantDb and the broker endpoint. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(dataSource: DataSource, broker: BrokerEndpoint): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        { provide: DataSource, useValue: dataSource },
        { provide: BrokerEndpoint, useValue: broker },
        TenantDb,
        AuthenticationService,
      ],
      exports: [DataSource, BrokerEndpoint, TenantDb, AuthenticationService],
    };
  }
}
