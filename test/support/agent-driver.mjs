// A real edge-agent process for the delivery tests: the built agent (apps/edge-agent/dist, the same Agent
// class, durable SQLite outbox and seq file that `medfleet-agent run` uses) driven faster than its report
// timers allow. The CLI's shortest interval is one second, so 10,000 messages would take hours; here the test
// asks for reports on stdin instead:
//
//   produce <untilSeq> <perSecond>   publish health reports (every fifth an inventory snapshot) through the
//                                    agent's own publishHealth()/publishInventory() until its last issued seq
//                                    reaches untilSeq, paced at perSecond
//   firmware <index> <version>       the simulated clinic's device number <index> now runs <version> (the
//                                    snapshots that follow report it); answered {"driver":"firmware",...}
//
// It prints JSON lines: the agent's own pino logs, `{"driver":"progress",...}` every 200 ms (the agent's
// status()), `{"driver":"produced",...}` when a `produce` is done, and `{"driver":"stopped",...}` after a
// clean stop on SIGTERM. SIGKILL is the test's to send. Loaded by path at run time (DRIVER_AGENT_MODULE), so
// the e2e project does not import another project's build output.
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';

const env = process.env;
const modulePath = env.DRIVER_AGENT_MODULE;
const stateDir = env.DRIVER_STATE_DIR;
if (!modulePath || !stateDir) {
  process.stderr.write('agent-driver: DRIVER_AGENT_MODULE and DRIVER_STATE_DIR are required\n');
  process.exit(2);
}
const { Agent, createLogger, loadIdentity, sqliteOutbox } = await import(pathToFileURL(modulePath).href);

const print = (record) => process.stdout.write(`${JSON.stringify({ driver: record.event, ...record })}\n`);
const identity = await loadIdentity(stateDir);
const agent = new Agent({
  identity,
  stateDir,
  logger: createLogger({ agentId: identity.agentId, level: env.DRIVER_LOG_LEVEL || 'info' }),
  simulate: { seed: env.DRIVER_SEED || identity.agentId, deviceCount: Number(env.DRIVER_DEVICES || 20) },
  outbox: sqliteOutbox(),
  mqtt: {
    // The agent's defaults are a 60 s backoff ceiling and a 30 s resend interval; shorter here only so the
    // outages of a test lasting minutes do not end in a minute of waiting. The mechanisms are the same.
    reconnectMaxMs: Number(env.DRIVER_RECONNECT_MAX_MS || 60_000),
  },
  resendIntervalMs: Number(env.DRIVER_RESEND_INTERVAL_MS || 30_000),
});
await agent.start();

const snapshot = () => {
  const status = agent.status();
  return {
    lastSeq: status.lastSeq,
    lastAckedSeq: status.lastAckedSeq,
    outboxDepth: status.outboxDepth,
    connected: status.connected,
    evicted: status.evicted,
    undeclaredGapSeqs: status.undeclaredGapSeqs,
  };
};
const progress = setInterval(() => print({ event: 'progress', ...snapshot() }), 200);

let producing = Promise.resolve();
let count = 0;
async function produce(untilSeq, perSecond) {
  const started = Date.now();
  const startSeq = agent.status().lastSeq;
  let emitted = 0;
  while (agent.status().lastSeq < untilSeq && agent.status().state === 'running') {
    count += 1;
    const seq = count % 5 === 0 ? await agent.publishInventory() : await agent.publishHealth();
    if (seq === undefined) throw new Error('the agent refused to publish a report');
    emitted += 1;
    // Paced: emitted messages may run ahead of the wall clock by at most one message.
    const due = started + (emitted * 1000) / perSecond;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  print({ event: 'produced', fromSeq: startSeq + 1, emitted, ...snapshot() });
}

const commands = readline.createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const [command, untilSeq, perSecond] = line.trim().split(/\s+/);
  if (command === 'firmware') {
    // Queued behind any production, so it lands between the snapshots the test asked for.
    producing = producing.then(() => {
      const device = agent.clinic?.devices[Number(untilSeq)];
      if (!device) throw new Error(`no simulated device number ${untilSeq}`);
      agent.clinic.setFirmware(device.mac, perSecond);
      print({ event: 'firmware', mac: device.mac, version: perSecond, ...snapshot() });
    });
    producing = producing.catch((error) => print({ event: 'error', message: String(error?.stack ?? error) }));
    return;
  }
  if (command !== 'produce') {
    print({ event: 'error', message: `unknown command ${JSON.stringify(line)}` });
    return;
  }
  producing = producing
    .then(() => produce(Number(untilSeq), Number(perSecond)))
    .catch((error) => print({ event: 'error', message: String(error?.stack ?? error) }));
});

let stopping;
const stop = (signal) => (stopping ??= shutdown(signal));
const shutdown = async (signal) => {
  clearInterval(progress);
  await producing;
  await agent.stop();
  print({ event: 'stopped', signal, ...snapshot() });
  process.exit(0);
};
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
// The test process is gone (stdin closed): stop rather than linger as an orphan.
commands.once('close', () => void stop('stdin closed'));
