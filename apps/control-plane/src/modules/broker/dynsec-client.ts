/**
 * A client of Mosquitto 2's dynamic-security plugin over MQTT: commands are JSON on
 * `$CONTROL/dynamic-security/v1`, answers come on `$CONTROL/dynamic-security/v1/response`, matched by
 * correlationData. Logs name commands and usernames only: passwords never leave this file but in the
 * command payload itself.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response';

export type DynsecCommand = { command: string } & Record<string, unknown>;

export interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
  correlationData?: string;
}

export interface DynsecClientOptions {
  url: string;
  username: string;
  password: string;
  clientId: string;
  /** How long one batch of commands may wait for its answer. */
  timeoutMs: number;
}

/** A command the broker refused or did not answer; carries no secret. */
export class DynsecError extends Error {
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`dynamic-security ${command} failed: ${reason}`);
    this.name = 'DynsecError';
  }
}

export class DynsecClient {
  private closed = false;
  private readonly pending = new Map<
    string,
    { resolve: (response: DynsecResponse) => void; reject: (error: Error) => void }
  >();

  private constructor(
    private readonly client: MqttClient,
    private readonly options: DynsecClientOptions,
  ) {
    client.on('message', (topic, payload) => {
      if (topic !== DYNSEC_RESPONSE_TOPIC) return;
      let parsed: { responses?: DynsecResponse[] };
      try {
        parsed = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
      } catch {
        return;
      }
      for (const response of parsed.responses ?? []) {
        const waiter = response.correlationData ? this.pending.get(response.correlationData) : undefined;
        if (!waiter || !response.correlationData) continue;
        this.pending.delete(response.correlationData);
        waiter.resolve(response);
      }
    });
    // Subscriptions do not survive a kick (changing this client's own roles disconnects it): renew them.
    client.on('connect', () => {
      client.subscribe(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
    });
  }

  static async connect(options: DynsecClientOptions): Promise<DynsecClient> {
    const client = await mqtt.connectAsync(options.url, {
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: options.timeoutMs,
    });
    const dynsec = new DynsecClient(client, options);
    const granted = await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
    if (granted.some((grant) => grant.qos > 2)) {
      await client.endAsync(true);
      throw new DynsecError(
        'subscribe',
        `${options.username} may not read ${DYNSEC_RESPONSE_TOPIC}; is the dynamic-security plugin loaded and is it its admin?`,
      );
    }
    return dynsec;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Sends commands in one message and answers their responses in order. A command whose answer does not
   * come within the timeout rejects the whole batch (the broker may or may not have applied it: every
   * caller is idempotent).
   */
  async send(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    if (!this.client.connected) throw new DynsecError(commands[0]?.command ?? '?', 'not connected to broker');
    const tagged = commands.map((command) => ({ ...command, correlationData: randomUUID() }));
    const answers = tagged.map(
      (command) =>
        new Promise<DynsecResponse>((resolve, reject) =>
          this.pending.set(command.correlationData, { resolve, reject }),
        ),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DynsecError(
              tagged.map((c) => c.command).join('+'),
              `no answer within ${this.options.timeoutMs} ms`,
            ),
          ),
        this.options.timeoutMs,
      );
    });
    try {
      await Promise.race([
        this.client.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 }),
        timeout,
      ]);
      return await Promise.race([Promise.all(answers), timeout]);
    } finally {
      clearTimeout(timer);
      for (const command of tagged) this.pending.delete(command.correlationData);
    }
  }

  /** Sends one command; a broker error other than the tolerated ones throws. */
  async run(command: DynsecCommand, tolerate: RegExp | null = null): Promise<DynsecResponse> {
    const [response] = await this.send([command]);
    if (!response) throw new DynsecError(command.command, 'no response');
    if (response.error && !(tolerate && tolerate.test(response.error))) {
      throw new DynsecError(command.command, response.error);
    }
    return response;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.pending.values()) waiter.reject(new Error('dynsec client closed'));
    this.pending.clear();
    await this.client.endAsync(true);
  }
}
