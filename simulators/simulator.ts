/**
 * The device simulator as a library: connects N devices (one real MQTT client each), publishes
 * readings at a total rate for a duration or a count, and reports what was sent, acknowledged
 * and failed. `npm run simulate` is a thin CLI over `runSimulation`.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { INCIDENT_ZONE, makeFleet, nextReading, seededRandom, type Reading, type Scenario, type SimDevice } from './devices.js';

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
  /** When the scenario began (epoch ms; default: now). A heatwave that began 6 minutes ago is at its hottest. */
  readonly scenarioStartedAt?: number;
  readonly sites?: number;
  readonly zonesPerSite?: number;
  /** Send `ts` with each reading (default); without it the gateway stamps readings on arrival. */
  readonly withTs?: boolean;
  /** Device id prefix, so several runs against one gateway do not collide. */
  readonly prefix?: string;
  /**
   * The run's token in every reading id (`<device>-<run>-<seq>`): a gateway keeps a repeated id with
   * other content as a new reading, but a rerun would repeat ids with the same content too. Default:
   * the start time in base 36, unique per run; give one to repeat a `seed` run exactly.
   */
  readonly runId?: string;
  /** Most QoS 1 readings in flight (sent, not yet acknowledged) at once. */
  readonly maxInflight?: number;
  /** The most to wait at the end for outstanding acknowledgements (default 30 s): the wait ends as soon as none is outstanding. */
  readonly drainTimeoutMs?: number;
  readonly connectConcurrency?: number;
  /** Extra client options per device (credentials, TLS). */
  readonly clientOptions?: (device: SimDevice) => IClientOptions;
  readonly onProgress?: (p: SimulationProgress) => void;
  readonly onAck?: (r: Reading) => void;
  readonly signal?: AbortSignal;
  /**
   * Undo what the scenario changed in the building when it ends (default true): an intrusion
   * disarms the zone it armed, a fire's smoke detectors report clear and its thermostats normal.
   */
  readonly restore?: boolean;
  /** Publish `offline` (retained) on each device's status topic at the end (default true), as a device going away cleanly would. */
  readonly sayOffline?: boolean;
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
  /**
   * Readings sent but neither acknowledged nor failed when the run ended: in flight when the
   * broker died or stopped answering, or still queued by a client waiting to reconnect (MQTT.js
   * keeps their callbacks pending across reconnects, so they never count as failed). Whether the
   * gateway kept them is unknown. sent = acknowledged + failed + unacknowledged.
   */
  readonly unacknowledged: number;
  /** Acknowledged readings per second over the whole run. */
  readonly rate: number;
  /** Devices added to the fleet because the scenario needs them in its incident zone (ids). */
  readonly added: readonly string[];
  /** What was undone at the end (e.g. "disarmed site1/z1"). */
  readonly restored: readonly string[];
}

/** Publishes that must not hang a run whose gateway went away: given up after `ms`. */
export async function within(ms: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
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
  const scenario = o.scenario ?? 'normal';
  const runId = o.runId ?? Date.now().toString(36);
  const fleet = makeFleet({ devices: o.devices, sites: o.sites, zonesPerSite: o.zonesPerSite, prefix: o.prefix, runId, random, scenario });
  const added = fleet.slice(o.devices).map((d) => d.id);
  const qos = o.qos ?? 1;
  const incident = `${INCIDENT_ZONE.site}/${INCIDENT_ZONE.zone}`;
  const inIncident = (d: SimDevice): boolean => `${d.site}/${d.zone}` === incident;
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
  const armedTopic = `zones/${incident}/armed`;
  if (scenario === 'intrusion' && clients[0]) await clients[0].publishAsync(armedTopic, 'true', { qos: 1, retain: true });

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
    const reading = nextReading(device, Date.now(), scenario, random, inIncident(device), o.withTs ?? true, startedAt);
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
  const startedAt = o.scenarioStartedAt ?? Date.now();
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
  const restored: string[] = [];
  // A gateway that stopped answering gets no goodbye: the devices' last wills say offline for them.
  if (!force) {
    if (o.restore !== false) restored.push(...(await restore(scenario, fleet, clients, inIncident, armedTopic, o.withTs ?? true)));
    if (o.sayOffline !== false) {
      const goodbyes = fleet.flatMap((d, i) => clients[i]?.publishAsync(`devices/${d.id}/status`, 'offline', { qos: 1, retain: true }) ?? []);
      await within(10_000, Promise.all(goodbyes));
    }
  }
  // Counted before the forced end: MQTT.js never calls back what it still holds then.
  const counted = { ...progress(), elapsedMs, unacknowledged: sent - acknowledged - failed };
  await Promise.all(clients.filter(Boolean).map((c) => c.endAsync(force).catch(() => undefined)));
  const summary = { ...counted, devices: fleet.length, qos, scenario, rate: elapsedMs > 0 ? (acknowledged * 1000) / elapsedMs : 0, added, restored };
  o.onProgress?.(summary);
  return summary;
}

/**
 * Leaves the building as a normal day would: an intrusion's zone disarmed, a fire's smoke
 * detectors clear and its thermostats back to normal (else later runs alert in an armed zone,
 * and smoke that never cleared keeps HVAC off on the site). Returns what it did.
 */
async function restore(scenario: Scenario, fleet: readonly SimDevice[], clients: readonly MqttClient[], inIncident: (d: SimDevice) => boolean, armedTopic: string, withTs: boolean): Promise<string[]> {
  const done: string[] = [];
  const zone = armedTopic.split('/').slice(1, 3).join('/');
  if (scenario === 'intrusion' && clients[0] && (await within(10_000, clients[0].publishAsync(armedTopic, 'false', { qos: 1, retain: true })))) done.push(`disarmed ${zone}`);
  if (scenario === 'fire') {
    const random = seededRandom(1);
    const publishes = fleet.flatMap((d, i) => {
      const client = clients[i];
      if (!client || !inIncident(d) || (d.model !== 'smoke' && d.model !== 'thermostat')) return [];
      // One normal reading of each kind the device has: smoke clear, a normal temperature.
      return d.kinds.map((_, k) => {
        const r = nextReading(d, Date.now() + k, 'normal', random, false, withTs);
        return client.publishAsync(r.topic, r.payload, { qos: 1 });
      });
    });
    if (publishes.length > 0 && (await within(10_000, Promise.all(publishes)))) done.push(`smoke cleared and temperatures normal in ${zone}`);
  }
  // A door whose last reading said open stays open on the dashboards, and "door left open" fires
  // ten minutes after the run: close it (a random that never starts a burst gives a closed reading).
  const closes = fleet.flatMap((d, i) => {
    const client = clients[i];
    if (!client || d.model !== 'door' || d.lastTs >= d.burstUntil) return [];
    d.burstUntil = 0;
    const r = nextReading(d, Date.now(), 'normal', () => 0.999, false, withTs);
    return [client.publishAsync(r.topic, r.payload, { qos: 1 })];
  });
  if (closes.length > 0 && (await within(10_000, Promise.all(closes)))) done.push(`closed ${closes.length === 1 ? 'a door' : `${closes.length} doors`} left open`);
  return done;
}
