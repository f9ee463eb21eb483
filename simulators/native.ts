/**
 * Simulated native devices (`npm run simulate -- --family zigbee2mqtt|tasmota|shelly|esphome|homeassistant`):
 * real MQTT clients publishing what each firmware publishes, at a total rate, and actuators
 * answering native commands with the state report their firmware would send.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { seededRandom } from './devices.js';
import { within } from './simulator.js';
import { FAMILY_SIMS, nativeFleet, type Connection, type Message, type NativeFamily, type SimNative } from './native-families.js';

export interface NativeSimulationOptions {
  readonly url: string;
  readonly family: NativeFamily;
  readonly devices: number;
  /** Reports per second across all devices (a report may be several messages); 0 = as fast as possible. */
  readonly rate: number;
  readonly duration?: number;
  readonly count?: number;
  readonly qos?: 0 | 1;
  readonly seed?: number;
  readonly prefix?: string;
  readonly clientOptions?: (c: Connection) => IClientOptions;
  /** Called for each native command answered (the state report sent back). */
  readonly onAnswer?: (topic: string, answered: readonly Message[]) => void;
  /** Called about every 250 ms while it runs and drains (as the contract simulator's). */
  readonly onProgress?: (p: NativeSimulationProgress) => void;
  readonly signal?: AbortSignal;
  /** Most messages in flight (sent, not yet acknowledged) at once: a broker that stops answering stops the sending. */
  readonly maxInflight?: number;
  /** The most to wait at the end for outstanding acknowledgements (default 30 s, as the contract simulator): the wait ends as soon as none is outstanding. */
  readonly drainTimeoutMs?: number;
}

export interface NativeSimulationProgress {
  readonly reports: number;
  /** Messages sent (a report may be several); acknowledged and failed count messages. */
  readonly messages: number;
  readonly acknowledged: number;
  readonly failed: number;
  /** Reports to send, when the run is counted (--count, or --rate × --duration). */
  readonly target: number | undefined;
  readonly elapsedMs: number;
}

export interface NativeSimulationSummary {
  readonly family: NativeFamily;
  readonly devices: number;
  readonly reports: number;
  readonly messages: number;
  readonly acknowledged: number;
  readonly failed: number;
  /**
   * Messages neither acknowledged nor failed when the run ended: in flight when the broker died,
   * or queued by a client waiting to reconnect. messages = acknowledged + failed + unacknowledged.
   */
  readonly unacknowledged: number;
  readonly commandsAnswered: number;
  readonly elapsedMs: number;
}

/** The device map that places a simulated fleet: site `sim`, zone = family, actuators as `hvac` or `lights`. */
export function fleetMap(family: NativeFamily, fleet: readonly SimNative[], site = 'sim'): { devices: Record<string, object>; actuators: Record<string, object> } {
  const sim = FAMILY_SIMS[family];
  const devices: Record<string, object> = {};
  const actuators: Record<string, object> = {};
  fleet.forEach((d, i) => {
    const { key, channel } = sim.nativeKey(d);
    const zone = `${family.replace(/[^a-z0-9]/g, '')}-${Math.floor(i / 2)}`;
    devices[key] = { site, zone };
    if (d.actuator) actuators[`${site}/${zone}/${family === 'tasmota' || family === 'shelly' ? 'ventilation' : 'hvac'}`] = { device: key, ...(channel === undefined ? {} : { channel }) };
  });
  return { devices, actuators };
}

export function simulatedFleet(family: NativeFamily, devices: number, prefix = 'sim'): SimNative[] {
  return nativeFleet(family, devices, prefix);
}

export async function runNativeSimulation(o: NativeSimulationOptions): Promise<NativeSimulationSummary> {
  const sim = FAMILY_SIMS[o.family];
  const random = seededRandom(o.seed ?? 1);
  const fleet = simulatedFleet(o.family, o.devices, o.prefix);
  const qos = o.qos ?? 1;
  const connections = sim.connections(fleet);
  const clients: { c: Connection; client: MqttClient }[] = [];
  let commandsAnswered = 0;
  let failed = 0;
  for (const c of connections) {
    const client = await mqtt.connectAsync(o.url, { clientId: c.clientId, reconnectPeriod: 1000, connectTimeout: 10_000, will: { ...c.will, payload: Buffer.from(c.will.payload), qos: 1, retain: c.will.retain ?? false }, ...o.clientOptions?.(c) });
    client.on('error', () => undefined);
    client.on('message', (topic, payload) => {
      const answer = sim.answer(c.devices, topic, payload.toString());
      if (answer.length === 0) return;
      commandsAnswered++;
      for (const m of answer) client.publish(m.topic, m.payload, { qos: 1, retain: m.retain ?? false });
      o.onAnswer?.(topic, answer);
    });
    if (c.subscribe.length > 0) await client.subscribeAsync([...c.subscribe], { qos: 1 });
    for (const m of c.birth) await client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain ?? false });
    clients.push({ c, client });
  }
  const clientOf = new Map<SimNative, MqttClient>();
  for (const { c, client } of clients) for (const d of c.devices) clientOf.set(d, client);

  const target = o.count ?? (o.rate > 0 && o.duration !== undefined ? Math.round(o.rate * o.duration) : undefined);
  const started = Date.now();
  let reports = 0;
  let messages = 0;
  let acknowledged = 0;
  const maxInflight = o.maxInflight ?? 2000;
  const outstanding = (): number => messages - acknowledged - failed;
  const done = (): boolean => o.signal?.aborted === true || (target !== undefined ? reports >= target : o.duration !== undefined && Date.now() - started >= o.duration * 1000);
  // Not awaited one by one: a publish to a broker that died waits for a reconnect that may never come.
  const ack = (err?: Error): void => void (err ? failed++ : acknowledged++);
  let lastProgress = 0;
  const progress = (): void => {
    const elapsedMs = Date.now() - started;
    if (!o.onProgress || elapsedMs - lastProgress < 250) return;
    lastProgress = elapsedMs;
    o.onProgress({ reports, messages, acknowledged, failed, target, elapsedMs });
  };
  while (!done()) {
    progress();
    const elapsed = Date.now() - started;
    const full = outstanding() >= maxInflight;
    const due = full ? 0 : Math.min(o.rate > 0 ? Math.floor((o.rate * elapsed) / 1000) - reports : 200, target === undefined ? Number.POSITIVE_INFINITY : target - reports);
    for (let i = 0; i < due; i++) {
      const d = fleet[reports % fleet.length]!;
      reports++;
      for (const m of sim.report(d, Date.now(), random)) {
        messages++;
        clientOf.get(d)!.publish(m.topic, m.payload, { qos, retain: m.retain ?? false }, ack);
      }
    }
    if (!done()) await new Promise((r) => setTimeout(r, o.rate > 0 || due <= 0 ? 20 : 0));
  }
  const drainDeadline = Date.now() + (o.drainTimeoutMs ?? 30_000);
  while (outstanding() > 0 && Date.now() < drainDeadline && !o.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 20));
    progress();
  }
  const elapsedMs = Date.now() - started;
  // Counted before a forced end: MQTT.js never calls back what it still holds then.
  const counted = { messages, acknowledged, failed, unacknowledged: outstanding() };
  const force = counted.unacknowledged > 0;
  // Going away cleanly, each says offline as its firmware does; a gateway that stopped answering gets no goodbye (the wills say it).
  if (!force) {
    const goodbyes = clients.flatMap(({ c, client }) => (c.goodbye ?? [c.will]).map((m) => client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain ?? false })));
    await within(10_000, Promise.all(goodbyes));
  }
  await Promise.all(clients.map(({ client }) => client.endAsync(force).catch(() => undefined)));
  return { family: o.family, devices: fleet.length, reports, ...counted, commandsAnswered, elapsedMs };
}
