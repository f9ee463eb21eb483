/**
 * Simulated actuators that speak the contract: each subscribes to exactly
 * `commands/<site>/<zone>/<actuator>` (which is how the gateway knows which actuator the device
 * is), reports its state on `devices/<device>/state` when it connects (unless told not to), and after each command
 * reports the new state — at once, after a delay, or never (an actuator that ignores commands);
 * `change()` is someone at the wall switch.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export type Behaviour =
  /** Applies each command and reports the new state after `delayMs` (0: at once). */
  | { readonly kind: 'confirm'; readonly delayMs?: number }
  /** Receives commands and does nothing. */
  | { readonly kind: 'ignore' }
  /** Applies nothing on its own: the test calls `apply()` when it wants the report to go out. */
  | { readonly kind: 'manual' };

export interface ActuatorOptions {
  readonly url: string;
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  /** The device (client id); default `<actuator>-<site>-<zone>`. */
  readonly device?: string;
  /** The state it reports when it connects; default `{"mode":"off"}` for HVAC, else `{"state":"off"}`. */
  readonly initial?: Readonly<Record<string, unknown>>;
  /** Whether it reports its state when it connects (default true); many real ones report only once changed. */
  readonly reportsAtConnect?: boolean;
  readonly behaviour?: Behaviour;
  readonly clientOptions?: IClientOptions;
}

export interface ReceivedCommand {
  readonly id: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly correlationid: string;
}

export interface SimActuator {
  readonly device: string;
  readonly client: MqttClient;
  /** Every command received, resends included (same id). */
  readonly received: ReceivedCommand[];
  readonly state: Readonly<Record<string, unknown>>;
  behaviour: Behaviour;
  /** Applies the last command received and reports the new state (a late answer). */
  apply(): Promise<void>;
  /** Someone changes it by hand: the new state is reported with no command. */
  change(state: Readonly<Record<string, unknown>>): Promise<void>;
  /** Resolves with the next command received (or one already received and not yet taken). */
  nextCommand(timeoutMs?: number): Promise<ReceivedCommand>;
  stop(): Promise<void>;
}

export async function simulateActuator(o: ActuatorOptions): Promise<SimActuator> {
  const device = o.device ?? `${o.actuator}-${o.site}-${o.zone}`;
  const topic = `commands/${o.site}/${o.zone}/${o.actuator}`;
  const client = await mqtt.connectAsync(o.url, { clientId: device, reconnectPeriod: 0, connectTimeout: 10_000, ...o.clientOptions });
  let state: Record<string, unknown> = { ...(o.initial ?? (o.actuator === 'hvac' ? { mode: 'off' } : { state: 'off' })) };
  const received: ReceivedCommand[] = [];
  let taken = 0;
  const waiters: ((c: ReceivedCommand) => void)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const report = (): Promise<unknown> => client.publishAsync(`devices/${device}/state`, JSON.stringify(state), { qos: 1 });
  const sim: SimActuator = {
    device,
    client,
    received,
    get state() {
      return state;
    },
    behaviour: o.behaviour ?? { kind: 'confirm' },
    async apply() {
      const last = received.at(-1);
      if (!last) return;
      state = { ...state, ...last.data };
      await report();
    },
    async change(next) {
      state = { ...next };
      await report();
    },
    nextCommand(timeoutMs = 5000) {
      const ready = received[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${device}: no command within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((c) => {
          clearTimeout(timer);
          taken++;
          resolve(c);
        });
      });
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      await client.endAsync();
    },
  };
  client.on('message', (t, payload) => {
    if (t !== topic) return;
    let command: ReceivedCommand;
    try {
      const ce = JSON.parse(payload.toString()) as { id: string; data: Record<string, unknown>; correlationid: string };
      command = { id: ce.id, data: ce.data, correlationid: ce.correlationid };
    } catch {
      return;
    }
    received.push(command);
    waiters.shift()?.(command);
    const b = sim.behaviour;
    if (b.kind !== 'confirm') return;
    const act = (): void => {
      state = { ...state, ...command.data };
      report().catch(() => undefined);
    };
    if (!b.delayMs) return act();
    const timer = setTimeout(() => {
      timers.delete(timer);
      act();
    }, b.delayMs);
    timers.add(timer);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  if (o.reportsAtConnect ?? true) await report();
  return sim;
}
