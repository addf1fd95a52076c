/**
 * Starts the control plane: embedded or real database and broker, migrations, the HTTP API, gRPC and the
 * MQTT consumer. Used by the CLI, the demo and the integration tests alike.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { ServerCredentials, experimental } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE, PROTO_ROOT } from '@medfleet/contracts';
import path from 'node:path';
import type { Logger } from 'pino';
import { AppModule } from './app.module.js';
import { HttpExceptionFilter } from './common/errors/http-exception.filter.js';
import { securityHeaders } from './common/security-headers.middleware.js';
import type { AppConfig } from './config/app-config.js';
import { appDataSource, migrationDataSource, type DatabaseTarget } from './database/data-source.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './infra/embedded-broker.js';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgres } from './infra/embedded-postgres.js';
import { PinoNestLogger } from './infra/logger.js';
import { MedfleetMqttServer } from './infra/mqtt-transport.js';
import { BrokerEndpoint } from './infra/runtime.js';
import { AgentCredentialsService } from './modules/agents/agent-credentials.service.js';
import { AgentEntity } from './modules/agents/agent.entity.js';
import { DynsecClient } from './modules/broker/dynsec-client.js';
import { ensureControlPlaneRole } from './modules/broker/dynsec-provisioning.service.js';
import { DeviceEntity } from './modules/devices/device.entity.js';
import { EnrollmentTokenEntity } from './modules/enrollment/enrollment-token.entity.js';
import { OrganizationService } from './modules/organizations/organization.service.js';
import { mutualTlsInterceptor, tlsServerCredentials } from './modules/pki/mutual-tls.interceptor.js';
import { PkiService } from './modules/pki/pki.service.js';
import { OrgApiKeyEntity, OrganizationEntity } from './modules/organizations/organization.entity.js';
import { SiteEntity } from './modules/sites/site.entity.js';
import { TenantEntity } from './modules/tenants/tenant.entity.js';

export const ENTITIES = [
  OrganizationEntity,
  OrgApiKeyEntity,
  TenantEntity,
  SiteEntity,
  EnrollmentTokenEntity,
  AgentEntity,
  DeviceEntity,
];

export interface RunningControlPlane {
  app: NestExpressApplication;
  httpUrl: string;
  /** Plaintext gRPC (enrollment only), when GRPC_PLAINTEXT is on. */
  grpcAddress: string;
  /** gRPC over TLS: enrollment, and with an agent certificate (mutual TLS) AgentSync and renewal. */
  grpcTlsAddress: string;
  /** The CA agents trust for the TLS endpoint, when the control plane issued its certificate itself. */
  grpcServerCaPem: string | null;
  mqttUrl: string;
  databaseUrl: string;
  /** Set only on the first start against an empty database: the default organization's API key. */
  initialApiKey: string | null;
  close(): Promise<void>;
}

/** Applies pending migrations with the owner connection. */
export async function migrate(target: DatabaseTarget): Promise<string[]> {
  const dataSource = migrationDataSource(target);
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((migration) => migration.name);
  } finally {
    await dataSource.destroy();
  }
}

export async function startControlPlane(config: AppConfig, logger: Logger): Promise<RunningControlPlane> {
  const cleanup: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const step of cleanup.reverse()) {
      await step().catch((error: unknown) => logger.warn({ err: error }, 'shutdown step failed'));
    }
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const pg: EmbeddedPostgres = await startEmbeddedPostgres(config.DATA_DIR, config.EMBEDDED_PG_PORT);
      cleanup.push(() => pg.stop());
      databaseUrl = pg.url;
      logger.info({ dataDir: config.DATA_DIR }, 'embedded PostgreSQL (PGlite) started');
    }
    const target: DatabaseTarget = {
      url: databaseUrl,
      embedded: config.embeddedDatabase,
      poolSize: config.DB_POOL_SIZE,
    };
    const applied = await migrate(target);
    if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');

    let embeddedBroker: EmbeddedBroker | null = null;
    let broker: BrokerEndpoint;
    if (config.MQTT_URL) {
      broker = new BrokerEndpoint(
        config.MQTT_URL,
        config.MQTT_PUBLIC_URL ?? config.MQTT_URL,
        config.MQTT_USERNAME,
        config.MQTT_PASSWORD,
      );
    } else {
      embeddedBroker = await startEmbeddedBroker(
        config.EMBEDDED_MQTT_PORT,
        randomBytes(24).toString('base64url'),
      );
      cleanup.push(() => (embeddedBroker as EmbeddedBroker).stop());
      const started = embeddedBroker;
      broker = new BrokerEndpoint(
        started.url,
        config.MQTT_PUBLIC_URL ?? started.url,
        started.username,
        started.password,
        (clientId) => started.disconnect(clientId),
      );
      logger.info({ url: embeddedBroker.url }, 'embedded MQTT broker (Aedes) started');
    }

    // Mosquitto dynamic-security: before the control plane's other MQTT clients connect, since giving
    // its own broker client the role it needs restarts that username's connections.
    let dynsec: DynsecClient | null = null;
    if (config.MQTT_DYNSEC && broker.username && broker.password) {
      const connected = await DynsecClient.connect({
        url: broker.url,
        username: broker.username,
        password: broker.password,
        clientId: `${config.mqttClientId}-dynsec`,
        timeoutMs: config.MQTT_DYNSEC_TIMEOUT_MS,
      });
      dynsec = connected;
      // Closed by the provisioning service with the application; this covers a failed start before it.
      cleanup.push(() => connected.close());
      await ensureControlPlaneRole(connected, broker.username, logger);
      logger.info({ url: broker.url }, 'MQTT dynamic-security provisioning enabled');
    }

    const dataSource = appDataSource(target, ENTITIES);
    await dataSource.initialize();
    cleanup.push(() => dataSource.destroy());

    const app = await NestFactory.create<NestExpressApplication>(
      AppModule.forRoot({ config, dataSource, broker, dynsec }),
      {
        bodyParser: false,
        logger: new PinoNestLogger(logger),
      },
    );
    cleanup.push(() => app.close());
    // Before the body parser, so even a refused body gets the headers.
    app.use(securityHeaders);
    app.useBodyParser('json', { limit: '64kb' });
    app.setGlobalPrefix('api/v1');
    app.useGlobalPipes(
      new ValidationPipe({
        whitelist: true,
        forbidNonWhitelisted: true,
        transform: true,
        stopAtFirstError: false,
      }),
    );
    app.useGlobalFilters(new HttpExceptionFilter(logger));
    app.disable('x-powered-by');

    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Medfleet control plane')
        .setDescription('Device inventory and fleet operations for MSPs securing connected medical devices.')
        .setVersion('1')
        .addBearerAuth({
          type: 'http',
          scheme: 'bearer',
          description: 'Session (mfs_…), personal token (mfp_…) or organization API key (mfk_…)',
        })
        .build(),
    );
    SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs/openapi.json' });

    const grpcAddress = `${config.GRPC_HOST}:${config.GRPC_PORT}`;
    const tlsPort =
      config.GRPC_TLS_PORT ?? (config.GRPC_PORT === 0 ? 0 : Math.min(config.GRPC_PORT + 1, 65535));
    const grpcTlsAddress = `${config.GRPC_HOST}:${tlsPort === 0 ? await freePort() : tlsPort}`;
    const publicTlsAddress = config.GRPC_TLS_PUBLIC_ADDRESS ?? grpcTlsAddress;
    const pki = app.get(PkiService);
    const tls = await pki.grpcServerTls([publicTlsAddress.replace(/:\d+$/, '')]);
    pki.useTlsEndpoint({ address: publicTlsAddress, serverCaPem: tls.serverCaPem });
    // For bootstrap files: the CA an agent must trust to enroll over TLS (public, so not secret).
    const grpcServerCaFile = path.join(config.DATA_DIR, 'pki', 'grpc-server-ca.pem');
    if (tls.serverCaPem) {
      mkdirSync(path.dirname(grpcServerCaFile), { recursive: true, mode: 0o700 });
      writeFileSync(grpcServerCaFile, tls.serverCaPem, { mode: 0o644 });
    }
    // Both listeners check agent certificates where a call needs one; the plaintext one never has one.
    const interceptors = [mutualTlsInterceptor(pki)];
    const grpcServer = (url: string, credentials: ServerCredentials): MicroserviceOptions => ({
      transport: Transport.GRPC,
      options: {
        package: PROTO_PACKAGE,
        protoPath: PROTO_FILES.map((file) => path.join(PROTO_ROOT, file)),
        url,
        loader: PROTO_LOADER_OPTIONS,
        credentials,
      },
    });
    if (config.GRPC_PLAINTEXT) {
      app.connectMicroservice<MicroserviceOptions>(
        grpcServer(
          grpcAddress,
          experimental.createServerCredentialsWithInterceptors(
            ServerCredentials.createInsecure(),
            interceptors,
          ),
        ),
      );
    }
    app.connectMicroservice<MicroserviceOptions>(
      grpcServer(grpcTlsAddress, tlsServerCredentials(tls, interceptors)),
    );
    app.connectMicroservice<MicroserviceOptions>(
      {
        strategy: new MedfleetMqttServer({
          shareGroup: config.embeddedBroker ? null : config.MQTT_SHARE_GROUP,
          mqtt: {
            url: broker.url,
            clientId: config.mqttClientId,
            username: broker.username,
            password: broker.password,
            protocolVersion: config.embeddedBroker ? 4 : 5,
            clean: false,
            ...(config.embeddedBroker
              ? {}
              : { properties: { sessionExpiryInterval: config.MQTT_SESSION_EXPIRY_SEC } }),
            reconnectPeriod: 1000,
          },
        }),
      },
      { inheritAppConfig: true },
    );

    if (embeddedBroker) {
      const credentials = app.get(AgentCredentialsService);
      embeddedBroker.useCredentialCheck((agentId, secret) => credentials.verify(agentId, secret));
    }

    await app.startAllMicroservices();
    await app.listen(config.PORT, config.HOST);
    const httpUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');

    const created = await app.get(OrganizationService).bootstrap();
    logger.info(
      {
        http: httpUrl,
        ...(config.GRPC_PLAINTEXT ? { grpc: grpcAddress } : {}),
        grpcTls: grpcTlsAddress,
        ...(tls.serverCaPem ? { grpcServerCaFile } : {}),
        mqtt: broker.url,
      },
      'control plane ready',
    );
    return {
      app,
      httpUrl,
      grpcAddress,
      grpcTlsAddress,
      grpcServerCaPem: tls.serverCaPem,
      mqttUrl: broker.url,
      databaseUrl,
      initialApiKey: created?.apiKey.token ?? null,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
