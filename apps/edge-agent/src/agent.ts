/**
 * The running agent: connects to MQTT with its enrolled identity, publishes inventory and health envelopes,
 * keeps every message in its outbox until the control plane acknowledges it on `cmd/ack`, and applies the
 * remote configuration it gets on `cmd/config` without a restart.
 */
import {
  ackEnvelopeSchema,
  commandFilter,
  decodeEnvelope,
  encodeEnvelope,
  healthBodySchema,
  inventoryBodySchema,
  MAX_PAYLOAD_BYTES,
  MESSAGE_TYPES,
  parseTopic,
  PROTOCOL_VERSION,
  seqGapBodySchema,
  agentRecoveredBodySchema,
  configAppliedBodySchema,
  configRejectedBodySchema,
  jobProgressBodySchema,
  type AgentRecoveredBody,
  type AgentRecoveredEnvelope,
  type ConfigAppliedBody,
  type ConfigRejectedBody,
  type EventEnvelope,
  uplinkTopic,
  type AgentAddress,
  type EnrollResponse,
  type HealthBody,
  type InventoryBody,
  type JobProgressBody,
  type JobProgressEnvelope,
  type SeqGapEnvelope,
  type UplinkEnvelope,
} from '@medfleet/contracts';
import type { SimulatedClinic } from '@medfleet/simulator';
import fs from 'node:fs/promises';
import path from 'node:path';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { backoffDelay } from './backoff.js';
import { ClockEstimator, type ClockSample } from './clock.js';
import { Collectors, SUPPORTED_COLLECTORS } from './collectors.js';
import { ConfigStore, enabledCollectors, enrollmentConfig, type EffectiveConfig } from './config.js';
import { HealthSampler } from './health.js';
import { simulatedInventory, type InventorySource } from './inventory.js';
import { createLogger, type Logger } from './logger.js';
import { Delivery, type GapReason } from './delivery.js';
import type { DeviceAdapter } from './jobs/device-adapter.js';
import type { JobRunner } from './jobs/job-runner.js';
import type { InstallFaultHook } from './jobs/simulator.adapter.js';
import { JOBS_FILE } from './jobs/job-files.js';
import type { Outbox, OutboxFactory, OutboxMessage } from './outbox.js';
import { countSeqs, type SeqRange } from './seq-ranges.js';
import { sqliteOutbox } from './sqlite-outbox.js';
import { lockStateDir, SeqStore, type StateLock } from './state.js';

export interface AgentMqttOptions {
  /** Overrides the identity's broker URL (tests put a proxy in between). */
  url?: string;
  /** Ceiling of the first reconnect delay; each failed attempt doubles it (full jitter: see `backoff.ts`). */
  reconnectMinMs?: number;
  /** Largest reconnect ceiling. */
  reconnectMaxMs?: number;
  /** A connection that stays up this long resets the backoff; one that drops sooner keeps climbing. */
  stableConnectionMs?: number;
  /** How long the broker keeps the session (subscriptions, queued commands) while the agent is away. */
  sessionExpirySec?: number;
  keepaliveSec?: number;
  connectTimeoutMs?: number;
}

export interface AgentOptions {
  /** The enrolled identity (`AgentIdentity` from identity.json, or a hand-made one in tests). */
  identity: EnrollResponse;
  /** Holds the persisted seq counter. */
  stateDir: string;
  logger?: Logger;
  /** Defaults to a simulated clinic seeded by `simulate.seed`, else the agent id. */
  inventory?: InventorySource;
  simulate?: {
    seed?: number | string;
    deviceCount?: number;
    /** Asked before each install on a simulated device whether it should fail (`--simulate-control`). */
    installFault?: InstallFaultHook;
  };
  /**
   * Where messages wait for their ack. Default: the durable SQLite outbox in the state directory
   * (`sqliteOutbox()`). A factory is called at start, after the state directory is locked, and the agent
   * closes what it opened; an instance is the caller's to close.
   */
  outbox?: Outbox | OutboxFactory;
  mqtt?: AgentMqttOptions;
  /** Most publishes not yet confirmed by the broker (lowered to the broker's Receive Maximum). */
  maxInflight?: number;
  /** Re-publish a message still unacknowledged after this long. */
  resendIntervalMs?: number;
  /** Most messages re-published per resend round, so a long control-plane outage does not flood the uplink. */
  resendBatchSize?: number;
  /** On stop, how long to wait for outstanding acks before disconnecting. */
  flushTimeoutMs?: number;
  /** Work orders (`cmd/jobs`, see src/jobs). */
  jobs?: {
    /** The clock orders are checked and timed by (epoch ms); default `Date.now`. Tests move it into a window. */
    now?: () => number;
    /** Default: the simulator adapter when the agent simulates its clinic, then the manual adapter. */
    adapters?: readonly DeviceAdapter[];
  };
}

export interface AgentStatus {
  state: 'new' | 'running' | 'stopping' | 'stopped';
  connected: boolean;
  lastSeq: number;
  lastAckedSeq: number;
  /** False until started, and for the in-memory outbox. */
  outboxDurable: boolean;
  outboxDepth: number;
  pendingSeqs: number[];
  /** Messages evicted unacknowledged because the outbox was full, by stream. */
  evicted: Record<string, number>;
  /** Seqs known to be gone that no gap report declares yet (non-zero only while publishing one fails). */
  undeclaredGapSeqs: number;
  devicesKnown: number;
  /** The config version applied (0: the enrollment config) and the timings it set. */
  configVersion: number;
  healthIntervalSec: number;
  inventoryIntervalSec: number;
  /** Control-plane clock minus agent clock, once an ack with server times arrived. */
  clock?: ClockSample;
}

export const DEFAULT_INVENTORY_INTERVAL_SEC = 300;
export const DEFAULT_HEALTH_INTERVAL_SEC = 60;
const DAY_SEC = 24 * 60 * 60;
/** Envelope fields around the body, generously: v, agentId, seq, sentAt, type, traceparent. */
const ENVELOPE_OVERHEAD_BYTES = 512;

type UplinkMessage = { stream: 'inventory'; body: InventoryBody } | { stream: 'health'; body: HealthBody };
type ConfigEvent =
  | { type: typeof MESSAGE_TYPES.configApplied; body: ConfigAppliedBody }
  | { type: typeof MESSAGE_TYPES.configRejected; body: ConfigRejectedBody };

export class Agent {
  readonly agentId: string;
  private readonly address: AgentAddress;
  private readonly log: Logger;
  private outbox?: Outbox;
  private ownsOutbox = false;
  private closedPendingSeqs?: number[];
  private readonly inventory: InventorySource;
  /** The simulated clinic when the agent simulates one (`--simulate`): its devices take firmware updates. */
  readonly clinic?: SimulatedClinic;
  private jobRunner?: Promise<JobRunner>;
  private jobsChain: Promise<void> = Promise.resolve();
  private readonly health: HealthSampler;
  private readonly clock = new ClockEstimator();
  private readonly collectors: Collectors;
  private configStore?: ConfigStore;
  private config?: EffectiveConfig;
  private configChain: Promise<void> = Promise.resolve();
  private healthTimer?: NodeJS.Timeout;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private state: AgentStatus['state'] = 'new';
  private seqStore?: SeqStore;
  private delivery?: Delivery;
  private lock?: StateLock;
  private client?: MqttClient;
  private timers: NodeJS.Timeout[] = [];
  private emitChain: Promise<unknown> = Promise.resolve();
  private stopping?: Promise<void>;
  private devicesKnown = 0;
  private reconnectAttempt = 0;
  private stableTimer?: NodeJS.Timeout;
  private wasConnected = false;

  constructor(private readonly options: AgentOptions) {
    const { identity } = options;
    this.agentId = identity.agentId;
    this.address = { tenantId: identity.tenantId, siteId: identity.siteId, agentId: identity.agentId };
    this.log = options.logger ?? createLogger({ agentId: identity.agentId });
    if (options.inventory) {
      this.inventory = options.inventory;
    } else {
      this.clinic = simulatedInventory({
        seed: options.simulate?.seed ?? identity.agentId,
        ...(options.simulate?.deviceCount === undefined ? {} : { deviceCount: options.simulate.deviceCount }),
      });
      this.inventory = this.clinic;
    }
    this.health = new HealthSampler(options.stateDir);
    this.collectors = new Collectors({ inventory: () => this.collectInventory() });
    this.reconnectMinMs = options.mqtt?.reconnectMinMs ?? 1_000;
    this.reconnectMaxMs = options.mqtt?.reconnectMaxMs ?? 60_000;
  }

  /** Opens the seq store, starts connecting and schedules the reports; does not wait for the broker. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`an Agent starts once (state: ${this.state})`);
    this.state = 'running';
    let seqStore: SeqStore;
    let outbox: Outbox | undefined;
    try {
      this.lock = await lockStateDir(this.options.stateDir);
      seqStore = await SeqStore.open(this.options.stateDir, this.agentId);
      const { store, problem } = await ConfigStore.open(
        this.options.stateDir,
        enrollmentConfig(this.options.identity.config, this.options.identity.siteTimeZone, {
          inventoryIntervalSec: DEFAULT_INVENTORY_INTERVAL_SEC,
          healthIntervalSec: DEFAULT_HEALTH_INTERVAL_SEC,
        }),
      );
      if (problem) this.log.warn({ problem }, 'stored config unreadable: running the enrollment config');
      this.configStore = store;
      this.config = store.current();
      outbox = await this.openOutbox();
      await this.reconcileOutbox(seqStore, outbox);
    } catch (error) {
      if (this.ownsOutbox) await outbox?.close();
      await this.lock?.release();
      this.state = 'stopped';
      throw error;
    }
    this.seqStore = seqStore;
    this.outbox = outbox;
    const resendIntervalMs = this.options.resendIntervalMs ?? 30_000;
    const delivery = new Delivery({
      outbox,
      seqStore,
      logger: this.log,
      resendIntervalMs,
      resendBatchSize: this.options.resendBatchSize ?? 100,
      createGapReport: (reason, ranges) => this.gapReport(reason, ranges),
      ...(this.options.maxInflight === undefined ? {} : { maxInflight: this.options.maxInflight }),
    });
    this.delivery = delivery;
    if (seqStore.resetFromAgentId) {
      this.log.info(
        { previousAgentId: seqStore.resetFromAgentId },
        'new identity: sequence counter restarted',
      );
    }
    // Seqs issued before this start, never acknowledged, that the outbox does not hold and no held gap report
    // declares: the control plane's contiguous ack would stall on them, so they are declared first.
    const lost = delivery.missingSeqs();
    if (lost.length > 0) {
      this.log.warn(
        {
          fromSeq: (lost[0] as SeqRange).fromSeq,
          toSeq: (lost.at(-1) as SeqRange).toSeq,
          lostSeqs: countSeqs(lost),
          ...(lost.length > 1 ? { rangeCount: lost.length } : {}),
        },
        outbox.durable
          ? 'seqs issued before the last stop are missing from the durable outbox (reserved but never stored, or the outbox was unreadable): declaring them lost'
          : 'messages unacknowledged at the last stop were lost with the in-memory outbox',
      );
      await this.enqueue(async () => {
        await delivery.declareLost(lost);
        return undefined;
      });
    }
    const unclean = this.lock?.uncleanShutdown;
    if (unclean) {
      this.log.warn(unclean, 'the previous run ended without a clean stop: reporting the recovery');
      void this.enqueue(() =>
        this.emitRecovery({ reason: 'unclean_shutdown', ...unclean, detectedAt: new Date().toISOString() }),
      );
    }
    this.client = this.connect();
    delivery.attach(this.client);
    const config = this.config;
    const resendTickMs = Math.max(100, Math.min(resendIntervalMs / 2, 5_000));
    this.timers = [setInterval(() => delivery.resendStale(), resendTickMs)];
    this.log.info(
      {
        configVersion: config.version,
        inventoryIntervalSec: config.inventoryIntervalSec,
        healthIntervalSec: config.healthIntervalSec,
        collectors: enabledCollectors(config),
        lastSeq: seqStore.lastSeq,
        outboxDurable: outbox.durable,
        outboxDepth: outbox.depth(),
      },
      'agent started',
    );
    // The first reports go out as soon as the broker accepts the connection.
    this.configureCollectors(config);
    this.collectors.start();
    this.scheduleHealth(config.healthIntervalSec);
    // Jobs a crash interrupted are reported; without a jobs file the jobs code is not even loaded.
    if (await fileExists(path.join(this.options.stateDir, JOBS_FILE))) {
      this.jobsChain = this.jobs()
        .then((runner) => runner.recover())
        .catch((error: unknown) => this.log.error({ err: error }, 'could not recover the job records'));
    }
  }

  /** Stops the timers, waits briefly for outstanding acks, then disconnects cleanly. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  status(): AgentStatus {
    // A closed outbox cannot be read: what it held at the stop is kept for this.
    const pendingSeqs = this.closedPendingSeqs ?? this.outbox?.seqs() ?? [];
    return {
      state: this.state,
      connected: this.client?.connected ?? false,
      lastSeq: this.seqStore?.lastSeq ?? 0,
      lastAckedSeq: this.seqStore?.lastAckedSeq ?? 0,
      outboxDurable: this.outbox?.durable ?? false,
      outboxDepth: pendingSeqs.length,
      pendingSeqs,
      evicted: this.delivery?.evicted() ?? {},
      undeclaredGapSeqs: this.delivery?.undeclaredCount() ?? 0,
      devicesKnown: this.devicesKnown,
      configVersion: this.config?.version ?? 0,
      healthIntervalSec: this.config?.healthIntervalSec ?? 0,
      inventoryIntervalSec: this.config?.inventoryIntervalSec ?? 0,
      ...(this.clock.estimate() ? { clock: this.clock.estimate() } : {}),
    };
  }

  /** What each collector is doing (the health report carries the same). */
  collectorStates() {
    return this.collectors.states();
  }

  /** Publishes an inventory snapshot now; resolves to its seq, or undefined when nothing was published. */
  publishInventory(): Promise<number | undefined> {
    return this.enqueue(async () => {
      const devices = await this.inventory.snapshot(new Date());
      this.devicesKnown = devices.length;
      return this.emit({ stream: 'inventory', body: { complete: true, devices } });
    });
  }

  /** The inventory collector's run: a snapshot published, or the error kept for the health report. */
  private async collectInventory(): Promise<void> {
    let failure: unknown;
    await this.enqueue(async () => {
      try {
        const devices = await this.inventory.snapshot(new Date());
        this.devicesKnown = devices.length;
        return await this.emit({ stream: 'inventory', body: { complete: true, devices } });
      } catch (error) {
        failure = error;
        throw error;
      }
    });
    if (failure !== undefined) throw failure;
  }

  /** Publishes a health report now; resolves to its seq, or undefined when nothing was published. */
  publishHealth(): Promise<number | undefined> {
    return this.enqueue(async () => {
      const body = await this.health.sample({
        outboxDepth: this.outbox?.depth() ?? 0,
        lastAckedSeq: this.seqStore?.lastAckedSeq ?? 0,
        devicesKnown: this.devicesKnown,
        ...this.oldestPending(),
        ...(this.clock.estimate() ? { clock: this.clock.estimate() } : {}),
        collectors: this.collectors.states(),
        configVersion: this.config?.version ?? 0,
      });
      return this.emit({ stream: 'health', body });
    });
  }

  /** When the oldest message still waiting for its ack was made (by its envelope), if one waits. */
  private oldestPending(): { oldestPendingAt?: Date } {
    const oldest = this.outbox?.read(0, 1)[0];
    if (!oldest) return {};
    try {
      const sentAt = (JSON.parse(oldest.payload.toString('utf8')) as { sentAt?: unknown }).sentAt;
      const at = typeof sentAt === 'string' ? new Date(sentAt) : undefined;
      return at && Number.isFinite(at.getTime()) ? { oldestPendingAt: at } : {};
    } catch {
      return {};
    }
  }

  private scheduleHealth(intervalSec: number): void {
    clearInterval(this.healthTimer);
    this.healthTimer = setInterval(() => void this.publishHealth(), intervalSec * 1000);
    void this.publishHealth();
  }

  private configureCollectors(config: EffectiveConfig): void {
    const enabled = enabledCollectors(config);
    for (const name of SUPPORTED_COLLECTORS) {
      const interval = name === 'inventory' ? config.inventoryIntervalSec : config.healthIntervalSec;
      this.collectors.configure(name, enabled.includes(name), interval);
    }
  }

  /** The jobs runner, loaded on first use so an agent that never gets a work order does not carry it. */
  private jobs(): Promise<JobRunner> {
    this.jobRunner ??= import('./jobs/job-runner.js').then(({ JobRunner }) =>
      JobRunner.open({
        stateDir: this.options.stateDir,
        agentId: this.agentId,
        logger: this.log,
        now: this.options.jobs?.now ?? Date.now,
        settings: () => ({
          maintenance: (this.config as EffectiveConfig).maintenance,
          workOrderKeys: this.config?.workOrderKeys ?? [],
        }),
        report: (body) => this.enqueue(() => this.emitJobProgress(body)),
        ...(this.options.jobs?.adapters ? { adapters: this.options.jobs.adapters } : {}),
        ...(this.clinic ? { clinic: this.clinic } : {}),
        ...(this.options.simulate?.installFault
          ? { simulator: { installFault: this.options.simulate.installFault } }
          : {}),
      }),
    );
    return this.jobRunner;
  }

  /** Job ids running now (empty until the first work order). */
  async runningJobs(): Promise<string[]> {
    return this.jobRunner ? (await this.jobRunner).runningJobs() : [];
  }

  /** Emissions run one at a time, so seqs enter the outbox in order. */
  private enqueue(work: () => Promise<number | undefined>): Promise<number | undefined> {
    const result = this.emitChain.then(async () => {
      if (this.state !== 'running') return undefined;
      try {
        return await work();
      } catch (error) {
        this.log.error({ err: error }, 'could not publish a report');
        return undefined;
      }
    });
    this.emitChain = result;
    return result;
  }

  private async emit(message: UplinkMessage): Promise<number | undefined> {
    const seqStore = this.seqStore as SeqStore;
    const check =
      message.stream === 'inventory'
        ? inventoryBodySchema.safeParse(message.body)
        : healthBodySchema.safeParse(message.body);
    if (!check.success) {
      const issues = check.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`);
      this.log.error(
        { stream: message.stream, issues },
        'refusing to publish a report that breaks the contract',
      );
      return undefined;
    }
    const bodyBytes = Buffer.byteLength(JSON.stringify(message.body));
    if (bodyBytes + ENVELOPE_OVERHEAD_BYTES > MAX_PAYLOAD_BYTES) {
      // Checked before a seq is reserved, so skipping leaves no gap in the sequence.
      this.log.error(
        { stream: message.stream, bodyBytes, maxPayloadBytes: MAX_PAYLOAD_BYTES },
        'report too large for MQTT and not published (large snapshots will go over gRPC AgentSync)',
      );
      return undefined;
    }
    const seq = await seqStore.next();
    const header = this.header(seq);
    this.clock.noteSent(seq, Date.now());
    const envelope: UplinkEnvelope =
      message.stream === 'inventory'
        ? { ...header, type: MESSAGE_TYPES.inventory, body: message.body }
        : { ...header, type: MESSAGE_TYPES.health, body: message.body };
    const outboxMessage: OutboxMessage = {
      seq,
      stream: message.stream,
      topic: uplinkTopic(this.address, message.stream),
      payload: encodeEnvelope(envelope),
    };
    await (this.delivery as Delivery).submit(outboxMessage);
    return seq;
  }

  /** The `agent.recovered` event on `events`: the first thing a post-storm check looks for. */
  private async emitRecovery(body: AgentRecoveredBody): Promise<number | undefined> {
    const check = agentRecoveredBodySchema.safeParse(body);
    if (!check.success) {
      this.log.error(
        { issues: check.error.issues.slice(0, 3) },
        'refusing to publish a recovery event that breaks the contract',
      );
      return undefined;
    }
    const seq = await (this.seqStore as SeqStore).next();
    this.clock.noteSent(seq, Date.now());
    const envelope: AgentRecoveredEnvelope = {
      ...this.header(seq),
      type: MESSAGE_TYPES.recovered,
      body: check.data,
    };
    await (this.delivery as Delivery).submit({
      seq,
      stream: 'events',
      topic: uplinkTopic(this.address, 'events'),
      payload: encodeEnvelope(envelope),
    });
    return seq;
  }

  /** A job's progress on `jobs/progress`, through the outbox like every report. */
  private async emitJobProgress(body: JobProgressBody): Promise<number | undefined> {
    const check = jobProgressBodySchema.safeParse(body);
    if (!check.success) {
      this.log.error(
        { jobId: body.jobId, state: body.state, issues: check.error.issues.slice(0, 3) },
        'refusing to publish job progress that breaks the contract',
      );
      return undefined;
    }
    const seq = await (this.seqStore as SeqStore).next();
    this.clock.noteSent(seq, Date.now());
    const envelope: JobProgressEnvelope = {
      ...this.header(seq),
      type: MESSAGE_TYPES.jobProgress,
      body: check.data,
    };
    await (this.delivery as Delivery).submit({
      seq,
      stream: 'jobs/progress',
      topic: uplinkTopic(this.address, 'jobs/progress'),
      payload: encodeEnvelope(envelope),
    });
    return seq;
  }

  /** `agent.config_applied` / `agent.config_rejected` on `events`: the control plane records the outcome. */
  private async emitConfigEvent(event: ConfigEvent): Promise<number | undefined> {
    const check =
      event.type === MESSAGE_TYPES.configApplied
        ? configAppliedBodySchema.safeParse(event.body)
        : configRejectedBodySchema.safeParse(event.body);
    if (!check.success) {
      this.log.error(
        { type: event.type, issues: check.error.issues.slice(0, 3) },
        'refusing to publish a config event that breaks the contract',
      );
      return undefined;
    }
    const seq = await (this.seqStore as SeqStore).next();
    this.clock.noteSent(seq, Date.now());
    const envelope = { ...this.header(seq), ...event } as EventEnvelope;
    await (this.delivery as Delivery).submit({
      seq,
      stream: 'events',
      topic: uplinkTopic(this.address, 'events'),
      payload: encodeEnvelope(envelope),
    });
    return seq;
  }

  /**
   * A gap report for `ranges` (at most the contract's limits, all already issued) under a newly reserved
   * seq, so every range lies below the report's own seq. Delivery submits it like any other message.
   */
  private async gapReport(reason: GapReason, ranges: SeqRange[]): Promise<OutboxMessage> {
    const seqStore = this.seqStore as SeqStore;
    const body = { reason, ranges };
    const check = seqGapBodySchema.safeParse(body);
    // Checked before a seq is reserved, so a refusal leaves no new gap.
    if (!check.success || ranges.some((range) => range.toSeq > seqStore.lastSeq)) {
      throw new Error(
        `invalid gap report: ${check.error?.issues[0]?.message ?? `a range reaches past seq ${seqStore.lastSeq}`}`,
      );
    }
    const seq = await seqStore.next();
    const envelope: SeqGapEnvelope = { ...this.header(seq), type: MESSAGE_TYPES.seqGap, body: check.data };
    return {
      seq,
      stream: 'events',
      topic: uplinkTopic(this.address, 'events'),
      payload: encodeEnvelope(envelope),
    };
  }

  private async openOutbox(): Promise<Outbox> {
    const choice = this.options.outbox ?? sqliteOutbox();
    if (typeof choice !== 'function') return choice;
    const outbox = await choice({ stateDir: this.options.stateDir, agentId: this.agentId, logger: this.log });
    this.ownsOutbox = true;
    return outbox;
  }

  /** Lines the outbox up with the seq file after an unclean stop. */
  private async reconcileOutbox(seqStore: SeqStore, outbox: Outbox): Promise<void> {
    // The ack is written to the seq file before the outbox drops what it covers: a crash in between leaves
    // acknowledged messages behind.
    const dropped = await outbox.ackUpTo(seqStore.lastAckedSeq);
    if (dropped > 0) {
      this.log.info(
        { dropped, lastAckedSeq: seqStore.lastAckedSeq },
        'dropped messages already acknowledged',
      );
    }
    const lastHeld = outbox.seqs().at(-1);
    if (lastHeld !== undefined && (await seqStore.advanceTo(lastHeld))) {
      this.log.error(
        { lastHeld },
        'the outbox holds seqs the seq file does not know (seq.json lost or restored?): counter moved past them',
      );
    }
    if (outbox.depth() > 0) {
      this.log.info(
        { outboxDepth: outbox.depth(), fromSeq: outbox.read(0, 1)[0]?.seq, toSeq: lastHeld },
        'unacknowledged messages from before the restart will be replayed in order',
      );
    }
  }

  private header(seq: number) {
    return { v: PROTOCOL_VERSION, agentId: this.agentId, seq, sentAt: new Date().toISOString() } as const;
  }

  private connect(): MqttClient {
    const credentials = this.options.identity.mqtt;
    const url = this.options.mqtt?.url ?? credentials.url;
    // MQTT 5 unless the control plane says its broker only speaks 3.1.1 (the embedded one); a 3.1.1 persistent
    // session has no expiry interval and lasts until the broker drops it.
    const protocolVersion = credentials.protocolVersion === 4 ? 4 : 5;
    const client = mqtt.connect(url, {
      protocolVersion,
      clientId: credentials.clientId,
      ...(credentials.username ? { username: credentials.username } : {}),
      ...(credentials.password ? { password: credentials.password } : {}),
      clean: false,
      ...(protocolVersion === 5
        ? { properties: { sessionExpiryInterval: this.options.mqtt?.sessionExpirySec ?? 7 * DAY_SEC } }
        : {}),
      keepalive: this.options.mqtt?.keepaliveSec ?? 30,
      connectTimeout: this.options.mqtt?.connectTimeoutMs ?? 10_000,
      // Also the wait before the first retry should this attempt fail: jittered like every other.
      reconnectPeriod: this.reconnectDelay(),
      // Credentials may be provisioned on the broker a moment after enrollment: keep trying.
      reconnectOnConnackError: true,
      // Subscribed on every connect instead, which also covers a session the broker expired.
      resubscribe: false,
      // mqtt.js otherwise pre-builds a 2-byte Buffer for each of the 65,536 packet ids: 6 MB of heap on a Pi.
      writeCache: false,
    });
    client.on('connect', (connack) => this.onConnect(client, connack));
    client.on('reconnect', () => {
      // mqtt.js waits `reconnectPeriod` as it stood when the connection closed, so the delay is drawn one
      // attempt ahead: here for the wait after this attempt, should it fail.
      this.reconnectAttempt += 1;
      client.options.reconnectPeriod = this.reconnectDelay();
    });
    client.on('close', () => {
      clearTimeout(this.stableTimer);
      this.delivery?.onDisconnected();
      if (this.wasConnected && this.state === 'running') {
        this.log.warn(
          { outboxDepth: this.outbox?.depth() ?? 0, retryInMs: client.options.reconnectPeriod },
          'disconnected from MQTT broker; reconnecting',
        );
      }
      this.wasConnected = false;
    });
    client.on('disconnect', (packet) => {
      // MQTT 5 only: the broker says why, e.g. 142 "session taken over" when another client uses our id.
      this.log.warn(
        { reasonCode: packet.reasonCode, reason: packet.properties?.reasonString },
        'broker disconnected the agent',
      );
    });
    client.on('error', (error) => {
      this.log.warn({ err: error, url: redactUrl(url), attempt: this.reconnectAttempt }, 'MQTT error');
    });
    client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    return client;
  }

  /** The wait before the next attempt: full jitter under a ceiling that doubles with each failure. */
  private reconnectDelay(): number {
    return backoffDelay(this.reconnectAttempt + 1, {
      minMs: this.reconnectMinMs,
      maxMs: this.reconnectMaxMs,
    });
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (this.state !== 'running') return;
    this.wasConnected = true;
    // Should this connection drop at once (a flapping link, a clashing client id), the backoff keeps
    // climbing; once it has held for a while, the next drop starts again from the smallest ceiling.
    client.options.reconnectPeriod = this.reconnectDelay();
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      this.reconnectAttempt = 0;
      client.options.reconnectPeriod = this.reconnectDelay();
    }, this.options.mqtt?.stableConnectionMs ?? 30_000);
    this.stableTimer.unref();
    const receiveMaximum = connack.properties?.receiveMaximum;
    this.log.info(
      {
        sessionPresent: connack.sessionPresent ?? false,
        outboxDepth: this.outbox?.depth() ?? 0,
        ...(receiveMaximum === undefined ? {} : { receiveMaximum }),
      },
      'connected to MQTT broker',
    );
    const filter = commandFilter(this.address);
    client.subscribe(filter, { qos: 1 }, (error, granted) => {
      const refused = granted?.find((grant) => grant.qos >= 128);
      if (error || refused) {
        this.log.error({ err: error, filter, reasonCode: refused?.qos }, 'could not subscribe to commands');
      }
    });
    this.delivery?.onConnected(receiveMaximum);
  }

  /** Commands from the network are untrusted input: anything malformed is logged and ignored. */
  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    try {
      const parsed = parseTopic(topic);
      if (!parsed || parsed.direction !== 'downlink' || parsed.agentId !== this.agentId) {
        this.log.warn({ topic }, 'message on an unexpected topic ignored');
        return;
      }
      if (parsed.kind === 'ack') {
        await this.onAck(payload);
        return;
      }
      if (parsed.kind === 'jobs') {
        // Orders are decided one at a time, in arrival order; accepted jobs then run side by side.
        const handled = this.jobsChain.then(async () => (await this.jobs()).receive(payload));
        this.jobsChain = handled.catch(() => undefined);
        await handled;
        return;
      }
      if (parsed.kind === 'config') {
        // One config at a time, in arrival order.
        const handled = this.configChain.then(() => this.onConfig(payload));
        this.configChain = handled.catch(() => undefined);
        await handled;
        return;
      }
      this.log.info({ kind: parsed.kind }, 'command kind not supported yet; ignored');
    } catch (error) {
      this.log.error({ err: error, topic }, 'command handling failed; ignored');
    }
  }

  private async onAck(payload: Buffer): Promise<void> {
    const decoded = decodeEnvelope(payload, ackEnvelopeSchema);
    if (!decoded.ok) {
      this.log.warn({ reason: decoded.reason, detail: decoded.detail }, 'invalid ack ignored');
      return;
    }
    const ack = decoded.message;
    if (ack.agentId !== this.agentId) {
      this.log.warn({ ackAgentId: ack.agentId }, 'ack for another agent ignored');
      return;
    }
    const sample = this.clock.onAck(ack.body.forSeq, ack.body.receivedAt, ack.sentAt, Date.now());
    if (sample && Math.abs(sample.offsetMs) > 5_000 && Math.abs(sample.offsetMs) > sample.rttMs) {
      this.log.warn(sample, 'clock differs from the control plane by more than 5 s');
    }
    await (this.delivery as Delivery).acknowledge(ack.body.ackedSeq, ack.body.forSeq);
  }

  /**
   * A remote config: checked, persisted, then applied without a restart (collectors started or stopped,
   * timers re-timed), and reported on `events`. A bad one is reported rejected and the old one kept.
   */
  private async onConfig(payload: Buffer): Promise<void> {
    if (this.state !== 'running' || !this.configStore) return;
    const store = this.configStore;
    const decision = store.decide(payload, this.agentId);
    const keptVersion = this.config?.version ?? 0;
    if (decision.kind === 'ignore') {
      this.log.debug({ version: decision.version, why: decision.why }, 'config ignored');
      return;
    }
    if (decision.kind === 'apply') {
      try {
        await store.saveApplied(decision.config);
      } catch (error) {
        this.log.error({ err: error, version: decision.config.version }, 'config could not be persisted');
        await this.rejectConfig(store, {
          version: decision.config.version,
          keptVersion,
          reason: 'PERSIST_FAILED',
          detail: `could not write the config to the state directory: ${(error as Error).message}`.slice(
            0,
            1000,
          ),
          rejectedAt: new Date().toISOString(),
        });
        return;
      }
      const previous = this.config;
      const config = decision.config;
      this.config = config;
      this.configureCollectors(config);
      if (previous?.healthIntervalSec !== config.healthIntervalSec)
        this.scheduleHealth(config.healthIntervalSec);
      else void this.publishHealth();
      this.log.info(
        {
          version: config.version,
          previousVersion: keptVersion,
          inventoryIntervalSec: config.inventoryIntervalSec,
          healthIntervalSec: config.healthIntervalSec,
          collectors: enabledCollectors(config),
        },
        'config applied',
      );
      await this.enqueue(() =>
        this.emitConfigEvent({
          type: MESSAGE_TYPES.configApplied,
          body: { version: config.version, appliedAt: new Date().toISOString() },
        }),
      );
      return;
    }
    await this.rejectConfig(store, {
      version: decision.version,
      keptVersion,
      reason: decision.reason,
      detail: decision.detail,
      rejectedAt: new Date().toISOString(),
    });
  }

  private async rejectConfig(store: ConfigStore, body: ConfigRejectedBody): Promise<void> {
    this.log.warn(body, 'config rejected; keeping the current one');
    if (body.version > 0) {
      await store.saveRejected(body.version).catch((error: unknown) => {
        this.log.warn({ err: error }, 'could not remember the rejected config version');
      });
    }
    await this.enqueue(() => this.emitConfigEvent({ type: MESSAGE_TYPES.configRejected, body }));
  }

  private async shutdown(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    // Running jobs stop first (reported deferred) while the agent can still publish.
    await this.jobsChain;
    await (await this.jobRunner?.catch(() => undefined))?.stop();
    this.state = 'stopping';
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.collectors.stop();
    clearInterval(this.healthTimer);
    await this.configChain;
    await this.emitChain;
    await this.waitForAcks(this.options.flushTimeoutMs ?? 2_000);
    this.delivery?.close();
    clearTimeout(this.stableTimer);
    await this.disconnect();
    await this.delivery?.idle();
    await this.seqStore?.idle();
    const outboxDepth = this.outbox?.depth() ?? 0;
    const pendingFromSeq = this.outbox?.read(0, 1)[0]?.seq;
    if (this.ownsOutbox && this.outbox) {
      this.closedPendingSeqs = this.outbox.seqs();
      await this.outbox.close();
    }
    await this.lock?.release();
    this.state = 'stopped';
    if (outboxDepth > 0) {
      this.log.warn(
        { outboxDepth, pendingFromSeq, outboxDurable: this.outbox?.durable ?? false },
        'stopped with unacknowledged messages',
      );
    } else {
      this.log.info({ lastSeq: this.seqStore?.lastSeq }, 'agent stopped');
    }
  }

  private async waitForAcks(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.client?.connected && (this.outbox?.depth() ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  private disconnect(): Promise<void> {
    const client = this.client;
    if (!client) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn('MQTT did not close in time; dropping the connection');
        client.end(true);
        client.stream?.destroy();
        resolve();
      }, 3_000);
      // Connected: finish the in-flight publishes, then DISCONNECT. Offline: just stop reconnecting.
      client.end(!client.connected, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
