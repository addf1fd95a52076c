import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('runs on the embedded default with no configuration', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      embeddedDatabase: true,
      embeddedBroker: true,
      PORT: 3000,
      GRPC_PORT: 50051,
    });
  });

  it('uses real services when their URLs are given', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u@127.0.0.1:5432/db',
      MQTT_URL: 'mqtt://127.0.0.1:1883',
    });
    expect(config).toMatchObject({ embeddedDatabase: false, embeddedBroker: false });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['MQTT_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
    ['MQTT_CLIENT_ID', 'cp/#'],
  ])('names the bad variable %s=%s', (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.variable)).toEqual([variable]);
    expect((error as Error).message).toContain(variable);
  });
});
