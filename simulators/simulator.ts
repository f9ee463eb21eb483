/**
 * The device simulator as a library: connects N devices (one real MQTT client each), publishes
 * readings at a total rate for a duration or a count, and reports what was sent, acknowledged
 * and failed. `npm run simulate` is a thin CLI over `runSimulation`.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { makeFleet, nextReading, seededRandom, type Reading, type Scenario, type SimDevice } from './devices.js';

export interface SimulationOptions {
  readonly url: string;
  readonly devices: number;
  /** Readings per second across all devices; 0 = as fast as the broker takes them. */
  readonly rate: number;
  /** Seconds to run (ignored when `count` is given). */
  readonly duration?: number;
  /** Exactly this many readings, then stop. */
  readonly count?: number;
  readonly scenario?: Scenario;
  readonly qos?: 0 | 1;
  readonly seed?: number;
  readonly sites?: number;
  readonly zonesPerSite?: number;
  /** Send `ts` with each reading (default); without it the gateway stamps readings on arrival. */
  readonly withTs?: boolean;
  /** Device id prefix, so several runs against one gateway do not collide. */
  readonly prefix?: string;
  /** Most QoS 1 readings in flight (sent, not yet acknowledged) at once. */
  readonly maxInflight?: number;
  /** How long to wait for outstanding acknowledgements at the end. */
  readonly drainTimeoutMs?: number;
  readonly connectConcurrency?: number;
  /** Extra client options per device (credentials, TLS). */
  readonly clientOptions?: (device: SimDevice) => IClientOptions;
  readonly onProgress?: (p: SimulationProgress) => void;
  readonly onAck?: (r: Reading) => void;
  readonly signal?: AbortSignal;
}

export interface SimulationProgress {
  readonly connected: number;
  readonly sent: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly target: number | undefined;
  readonly elapsedMs: number;
}

export interface SimulationSummary extends SimulationProgress {
  readonly devices: number;
  readonly qos: 0 | 1;
  readonly scenario: Scenario;
  /** Acknowledged readings per second over the whole run. */
  readonly rate: number;
}

async function connectDevice(url: string, d: SimDevice, extra: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, {
    clientId: d.id,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    will: { topic: `devices/${d.id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    ...extra,
  });
  client.on('error', () => undefined); // reconnects on its own; failures show up as failed publishes
  await client.publishAsync(`devices/${d.id}/status`, 'online', { qos: 1, retain: true });
  return client;
}

export async function runSimulation(o: SimulationOptions): Promise<SimulationSummary> {
  const random = seededRandom(o.seed ?? 1);
  const fleet = makeFleet({ devices: o.devices, sites: o.sites, zonesPerSite: o.zonesPerSite, prefix: o.prefix, random });
  const qos = o.qos ?? 1;
  const scenario = o.scenario ?? 'normal';
  const incident = fleet[0] ? `${fleet[0].site}/${fleet[0].zone}` : '';
  const clients: MqttClient[] = new Array<MqttClient>(fleet.length);
  let connected = 0;
  const concurrency = o.connectConcurrency ?? 50;
  for (let i = 0; i < fleet.length; i += concurrency) {
    await Promise.all(
      fleet.slice(i, i + concurrency).map(async (d, j) => {
        clients[i + j] = await connectDevice(o.url, d, o.clientOptions?.(d) ?? {});
        connected++;
      }),
    );
    if (o.signal?.aborted) break;
  }
  if (scenario === 'intrusion' && clients[0] && fleet[0]) {
    await clients[0].publishAsync(`zones/${fleet[0].site}/${fleet[0].zone}/armed`, 'true', { qos: 1, retain: true });
  }

  const target = o.count ?? (o.rate > 0 && o.duration !== undefined ? Math.round(o.rate * o.duration) : undefined);
  const maxInflight = o.maxInflight ?? 2000;
  let sent = 0;
  let acknowledged = 0;
  let failed = 0;
  let next = 0;
  const started = Date.now();
  const progress = (): SimulationProgress => ({ connected, sent, acknowledged, failed, target, elapsedMs: Date.now() - started });
  const done = (): boolean =>
    o.signal?.aborted === true || (target !== undefined ? sent >= target : o.duration !== undefined && Date.now() - started >= o.duration * 1000);

  const publishOne = (): void => {
    const index = next++ % fleet.length;
    const device = fleet[index]!;
    const client = clients[index]!;
    const reading = nextReading(device, Date.now(), scenario, random, `${device.site}/${device.zone}` === incident, o.withTs ?? true);
    sent++;
    client.publish(reading.topic, reading.payload, { qos }, (err) => {
      if (err) failed++;
      else {
        acknowledged++;
        o.onAck?.(reading);
      }
    });
  };

  const tickMs = 10;
  let lastProgress = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = Date.now() - started;
      let due = o.rate > 0 ? Math.floor((o.rate * elapsed) / 1000) - sent : Number.POSITIVE_INFINITY;
      if (target !== undefined) due = Math.min(due, target - sent);
      // Keep at most maxInflight unacknowledged; a slow broker slows the simulator down.
      due = Math.min(due, maxInflight - (sent - acknowledged - failed), 5000);
      for (let i = 0; i < due && !done(); i++) publishOne();
      if (o.onProgress && elapsed - lastProgress >= 250) {
        lastProgress = elapsed;
        o.onProgress(progress());
      }
      if (done()) resolve();
      else setTimeout(tick, o.rate > 0 ? tickMs : 0);
    };
    tick();
  });

  const drainDeadline = Date.now() + (o.drainTimeoutMs ?? 30_000);
  while (acknowledged + failed < sent && Date.now() < drainDeadline && !o.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 20));
    if (o.onProgress && Date.now() - started - lastProgress >= 250) {
      lastProgress = Date.now() - started;
      o.onProgress(progress());
    }
  }
  const elapsedMs = Date.now() - started;
  const force = acknowledged + failed < sent;
  await Promise.all(clients.filter(Boolean).map((c) => c.endAsync(force).catch(() => undefined)));
  const summary = { ...progress(), elapsedMs, devices: fleet.length, qos, scenario, rate: elapsedMs > 0 ? (acknowledged * 1000) / elapsedMs : 0 };
  o.onProgress?.(summary);
  return summary;
}
