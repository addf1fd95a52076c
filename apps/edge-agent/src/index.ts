/** In-process API of the edge agent, for end-to-end tests and embedding (the CLI is main.ts). */
export { Agent, DEFAULT_HEALTH_INTERVAL_SEC, DEFAULT_INVENTORY_INTERVAL_SEC } from './agent.js';
export type { AgentMqttOptions, AgentOptions, AgentStatus } from './agent.js';
export { AgentException, type AgentExceptionCode } from './agent.exception.js';
export { runCli, processIo, USAGE, type CliIo } from './cli.js';
export { enroll, type EnrollOptions, type EnrollResult } from './enroll.js';
export { collectFacts } from './facts.js';
export { HealthSampler } from './health.js';
export { simulatedInventory, type InventorySource, type SimulationOptions } from './inventory.js';
export { createLogger, type Logger } from './logger.js';
export {
  MemoryOutbox,
  type AppendOptions,
  type AppendResult,
  type CompactionSummary,
  type EvictedMessage,
  type Outbox,
  type OutboxContext,
  type OutboxFactory,
  type OutboxMessage,
} from './outbox.js';
export {
  DEFAULT_DURABLE_OUTBOX_MAX_BYTES,
  DEFAULT_DURABLE_OUTBOX_MAX_MESSAGES,
  OUTBOX_FILE,
  SqliteOutbox,
  sqliteOutbox,
  type SqliteOutboxOpenReport,
  type SqliteOutboxOptions,
} from './sqlite-outbox.js';
export { backoffCeiling, backoffDelay, type BackoffOptions } from './backoff.js';
export type { GapReason } from './delivery.js';
export { chunkRanges, normalizeRanges, rangesOf, type SeqRange } from './seq-ranges.js';
export {
  defaultStateDir,
  IDENTITY_FILE,
  loadIdentity,
  LOCK_FILE,
  lockStateDir,
  readIdentity,
  saveIdentity,
  SEQ_FILE,
  SeqStore,
  type AgentIdentity,
  type StateLock,
} from './state.js';
export { AGENT_VERSION } from './version.js';
