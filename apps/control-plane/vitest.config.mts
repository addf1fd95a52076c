import { projectConfig } from '../../vitest.shared.mts';

// Integration specs (test/*.int-spec.ts) start the control plane against real PostgreSQL and MQTT, or the
// embedded PGlite and Aedes when TEST_DATABASE_URL / TEST_MQTT_URL are unset; they run one file at a time.
export default projectConfig(import.meta.dirname, {
  include: ['src/**/*.spec.ts', 'test/**/*.int-spec.ts'],
  fileParallelism: false,
  testTimeout: 60_000,
  hookTimeout: 120_000,
});
