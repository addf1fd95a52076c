import { projectConfig } from '../vitest.shared.mts';

// Cross-app tests: real control-plane and agent processes (built), real PostgreSQL and Mosquitto when
// TEST_DATABASE_URL / TEST_MQTT_URL are set, the embedded default when not.
export default projectConfig(import.meta.dirname, {
  include: ['**/*.e2e-spec.ts', 'lint/**/*.spec.ts'],
  fileParallelism: false,
  testTimeout: 120_000,
  hookTimeout: 120_000,
});
