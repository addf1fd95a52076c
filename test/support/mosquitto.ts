/**
 * A Mosquitto broker of the test's own (never the machine's one on 1883): a child process on a fixed
 * 127.0.0.1 port with persistence in a temp directory, so a test can kill it and start it again on the
 * same port, the way a broker restart or a crash looks to the agents and the control plane.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface OwnMosquitto {
  url: string;
  port: number;
  /** Starts the broker (again) on the same port and persistence directory; resolves once it accepts TCP. */
  start(): Promise<void>;
  /** SIGTERM: Mosquitto writes its persistence file (sessions, queued messages) before it exits. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  running(): boolean;
  output(): string;
  /** Deletes the persistence file (only while stopped): the next start knows no session and no message. */
  forget(): void;
}

export function ownMosquitto(dir: string, port: number): OwnMosquitto {
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}${path.sep}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
  ];
  // As root, Mosquitto would drop to the `mosquitto` user, which cannot write the test's temp directory.
  if (os.userInfo().uid === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async start() {
      if (child) throw new Error('mosquitto is already running');
      const started = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const append = (chunk: Buffer) => {
        log += chunk.toString('utf8');
      };
      started.stdout?.on('data', append);
      started.stderr?.on('data', append);
      exited = new Promise((resolve) =>
        started.once('exit', () => {
          if (child === started) child = null;
          resolve();
        }),
      );
      const deadline = Date.now() + 10_000;
      while (!(await accepts(port))) {
        if (child !== started) throw new Error(`mosquitto exited at start:\n${log.slice(-2000)}`);
        if (Date.now() > deadline)
          throw new Error(`mosquitto did not listen on ${port}:\n${log.slice(-2000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop(signal = 'SIGTERM') {
      const running = child;
      if (!running) return;
      running.kill(signal);
      await exited;
    },
    running: () => child !== null,
    output: () => log,
    forget() {
      if (child) throw new Error('stop mosquitto before forgetting its state');
      rmSync(path.join(dir, 'mosquitto.db'), { force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
