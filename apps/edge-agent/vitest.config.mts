import { projectConfig } from '../../vitest.shared.mts';

// The MQTT and gRPC specs talk to real sockets (Mosquitto on 127.0.0.1:1883), so they get more time.
export default projectConfig(import.meta.dirname, { testTimeout: 30_000, hookTimeout: 30_000 });
