import { projectConfig } from '../../vitest.shared.mts';

// Each spec builds the bundle (about a second) into its own temporary directory; the run spec talks to the
// local Mosquitto (127.0.0.1:1883 or TEST_MQTT_URL).
export default projectConfig(import.meta.dirname, {
  include: ['test/**/*.spec.ts'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
});
