import { projectConfig } from '../../vitest.shared.mts';

// Property tests take a second or two each; leave room for a busy CI machine.
export default projectConfig(import.meta.dirname, { testTimeout: 30_000 });
