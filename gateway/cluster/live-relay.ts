import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventBus, EventMap } from '../core/bus.js';
import type { ReadingEvent } from '../core/events.js';
import type { ReadingValue } from '../core/kinds.js';
import { connectRedis } from '../core/redis.js';
import { evictionCounter, type OnEvicted } from '../observability/evictions.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { KEYS } from './redis-keys.js';

/** What the live page shows, as it travels between nodes: readings coalesced per device and kind. */
interface LiveBatch {
  readonly node: string;
  readonly readings: readonly CompactReading[];
  readonly events: readonly { readonly name: RelayedName; readonly event: unknown }[];
}

/** A reading as the live page needs it (the envelope's lazy fields do not survive JSON). */
interface CompactReading {
  readonly d: string;
  readonly s: string;
  readonly z: string;
  readonly k: ReadingEvent['kind'];
  readonly v: ReadingValue;
  readonly t: number;
}

type RelayedName = 'deviceStatus' | 'deviceSilence' | 'command' | 'alert' | 'deadletter' | 'zoneArmed' | 'alarm' | 'commandStatus' | 'actuatorState';
const RELAYED: readonly RelayedName[] = ['deviceStatus', 'deviceSilence', 'command', 'alert', 'deadletter', 'zoneArmed', 'alarm', 'commandStatus', 'actuatorState'];
/** Commands, alerts, alarm transitions and dead letters a node starting up shows from before it started. */
const RECENT = 100;
/** Device-and-kind readings kept in Redis for a starting node (its live view holds 10,000 devices). */
const MAX_LIVE_READINGS = 50_000;

/**
 * Sets each reading's field and when it was heard in the index, then forgets the oldest past the
 * limit: a flood of made-up device ids cannot grow the hash without bound. Fields an older version
 * left without an index entry join it as the oldest of all (once: then the counts agree).
 * KEYS hash, index; ARGV max, now, then field and json per reading → fields forgotten.
 * Registered once per connection (`gw_keep_readings`): each flush sends its SHA, not its body.
 */
const KEEP_READINGS = `local max = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
end
if redis.call('HLEN', KEYS[1]) > redis.call('ZCARD', KEYS[2]) then
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do redis.call('ZADD', KEYS[2], 'NX', 0, field) end
end
local over = redis.call('ZCARD', KEYS[2]) - max
if over <= 0 then return 0 end
local gone = redis.call('ZPOPMIN', KEYS[2], over)
for j = 1, #gone, 2 do redis.call('HDEL', KEYS[1], gone[j]) end
return over`;

export interface LiveRelayOptions {
  readonly redisUrl: string;
  readonly nodeId: string;
  /** This node's bus: what its ingest, silence watch and partition owners announce. */
  readonly bus: EventBus;
  /** The live view's bus: this node's events and every other node's. */
  readonly liveBus: EventBus;
  readonly pushMs: number;
  readonly log: Logger;
  /** Counts what other nodes sent that this one could not read. */
  readonly unreadable: { inc(n?: number): void };
  /** Readings (device and kind) kept in Redis for starting nodes; default 50,000. */
  readonly maxReadings?: number;
  /** Counts what the relay drops past its bounds (gateway_memory_evictions_total{map="live_relay_…"}), said once per burst. */
  readonly metrics?: Pick<Metrics, 'memoryEvictions'>;
}

/** What each dropping costs, said with the first of a burst (GW_ERR_MEMORY_BOUND). */
const COSTS = {
  live_relay_states: "a device's status or silence, an actuator's report, a zone's armed state or a command's status left out of an interval's batch: other nodes' live pages show it at its next change",
  live_relay_feed: "the oldest of an interval's commands, alerts, alarm transitions and dead letters not relayed: other nodes' live page feeds miss them (they are stored all the same)",
  live_relay_kept: 'the device readings, statuses and reports heard longest ago forgotten in Redis: a node that starts shows them at their next change',
} as const;

/**
 * The live page of a cluster node shows the whole cluster. Each node hands what it hears (the
 * readings its devices send, statuses, dead letters, and the commands and alerts of the
 * partitions it rules) to its own live view at once, and to every other node through one Redis
 * channel, batched every LIVE_PUSH_MS with readings coalesced per device and kind: one message
 * per node per interval, not one per reading. The last reading of each device and kind, and the
 * recent commands, alerts, alarm transitions and dead letters, each device's last status and silence and each
 * actuator's last report, are also kept in Redis, so a node that starts (or a viewer of a node that just started)
 * sees the building at once, as the nodes that stayed up do.
 */
export class LiveRelay {
  private readonly pub: Redis;
  private readonly unreadable: LogLimiter;
  private readonly sub: Redis;
  private readings = new Map<string, CompactReading>();
  /** The feed's events of this interval (commands, alerts, dead letters, alarms), the newest RECENT. */
  private events: { name: RelayedName; event: unknown }[] = [];
  /** State of this interval (statuses, silences, reports, armed, command statuses): the last of each, never dropped for a burst. */
  private states = new Map<string, { name: RelayedName; event: unknown }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly off: (() => void)[] = [];
  private readonly evicted: OnEvicted | undefined;

  constructor(private readonly o: LiveRelayOptions) {
    this.unreadable = new LogLimiter(o.log);
    this.evicted = o.metrics && evictionCounter(o.metrics, o.log);
    this.pub = connectRedis(o.redisUrl, `gw-${o.nodeId}-live-pub`, { maxRetriesPerRequest: 1 });
    this.sub = connectRedis(o.redisUrl, `gw-${o.nodeId}-live-sub`, { maxRetriesPerRequest: null, commandTimeout: undefined });
    for (const c of [this.pub, this.sub]) c.on('error', () => undefined);
    this.pub.defineCommand('gw_keep_readings', { numberOfKeys: 2, lua: KEEP_READINGS });
  }

  async start(): Promise<void> {
    const { bus, liveBus } = this.o;
    await this.seed().catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, 'could not read the cluster\'s live state from Redis; the live page fills as events come'));
    this.off.push(
      bus.on('reading', (r) => {
        liveBus.emit('reading', r);
        this.readings.set(`${r.device}|${r.kind}`, { d: r.device, s: r.site, z: r.zone, k: r.kind, v: r.value, t: r.timeMs });
        this.schedule();
      }),
    );
    for (const name of RELAYED) {
      this.off.push(
        bus.on(name, (event: EventMap[RelayedName]) => {
          (liveBus.emit as (n: RelayedName, e: unknown) => void)(name, event);
          const e = { name, event };
          const key = stateKey(e);
          if (key !== undefined) {
            // A burst (devices reconnecting after a node died) must not push a device's status out of the batch.
            this.states.delete(key);
            this.states.set(key, e);
            if (this.states.size > (this.o.maxReadings ?? MAX_LIVE_READINGS)) {
              this.states.delete(this.states.keys().next().value!);
              this.dropped('live_relay_states', this.o.maxReadings ?? MAX_LIVE_READINGS);
            }
          } else {
            this.events.push(e);
            if (this.events.length > RECENT) {
              this.events.shift();
              this.dropped('live_relay_feed', RECENT);
            }
          }
          this.schedule();
        }),
      );
    }
    this.sub.on('message', (_channel: string, message: string) => this.received(message));
    await this.sub.subscribe(KEYS.live).catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, 'could not subscribe to the cluster\'s live channel (it retries when Redis is back)'));
  }

  async stop(): Promise<void> {
    for (const off of this.off.splice(0)) off();
    if (this.timer) clearTimeout(this.timer);
    this.flush();
    await Promise.all([this.pub.quit().catch(() => this.pub.disconnect()), this.sub.quit().catch(() => this.sub.disconnect())]);
  }

  private dropped(map: keyof typeof COSTS, bound: number, n = 1): void {
    for (let i = 0; i < n; i++) this.evicted?.(map, bound, COSTS[map]);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.o.pushMs);
    this.timer.unref();
  }

  private flush(): void {
    if (this.readings.size === 0 && this.events.length === 0 && this.states.size === 0) return;
    const readings = [...this.readings.values()];
    // State after the feed: a command before the statuses that follow it.
    const events = [...this.events, ...this.states.values()];
    this.readings = new Map();
    this.events = [];
    this.states = new Map();
    // Redis away: the other nodes' pages miss this interval (they catch up from the next ones).
    if (this.pub.status !== 'ready') return;
    const batch: LiveBatch = { node: this.o.nodeId, readings, events };
    const commands: (string | number)[][] = [['publish', KEYS.live, JSON.stringify(batch)]];
    if (readings.length > 0) {
      // Scored by when this node heard them, not by the device's own (possibly future) time.
      const args = readings.flatMap((r) => [`${r.d}|${r.k}`, JSON.stringify(r)]);
      commands.push(['gw_keep_readings', KEYS.liveDevices, KEYS.liveDevicesSeen, this.o.maxReadings ?? MAX_LIVE_READINGS, Date.now(), ...args]);
    }
    // Each device's last status and silence, each actuator's last report: a starting node's page shows them (the feed keeps only 100 events).
    const said = new Map<string, string>();
    for (const e of events) {
      const key = saidKey(e);
      if (key !== undefined) said.set(key, JSON.stringify(e));
    }
    if (said.size > 0) commands.push(['gw_keep_readings', KEYS.liveSaid, KEYS.liveSaidSeen, this.o.maxReadings ?? MAX_LIVE_READINGS, Date.now(), ...[...said].flat()]);
    const feed = events.filter(inFeed);
    if (feed.length > 0) commands.push(['lpush', `${KEYS.live}:recent`, ...feed.map((e) => JSON.stringify(e))], ['ltrim', `${KEYS.live}:recent`, 0, RECENT - 1]);
    // The scripts (after the publish) answer how many they forgot past the bound.
    const max = this.o.maxReadings ?? MAX_LIVE_READINGS;
    this.pub.pipeline(commands).exec().then(
      (results) => results?.slice(1).forEach(([err, over], i) => !err && commands[i + 1]![0] === 'gw_keep_readings' && typeof over === 'number' && this.dropped('live_relay_kept', max, over)),
      () => undefined,
    );
  }

  private received(message: string): void {
    const batch = parseBatch(message);
    // Another node's (or another version's) message this one cannot read: said, never thrown in Redis' listener.
    if (!batch || batch.skipped > 0) {
      this.o.unreadable.inc(batch ? batch.skipped : 1);
      if (this.unreadable.allow('unreadable live batch')) this.o.log.warn({ message: message.slice(0, 200), skipped: batch?.skipped }, batch ? 'items of a live-page message from another node could not be read; skipped' : 'a live-page message from another node could not be read; skipped');
      if (!batch) return;
    }
    if (batch.node === this.o.nodeId) return;
    for (const r of batch.readings) this.o.liveBus.emit('reading', reading(r));
    for (const { name, event } of batch.events) (this.o.liveBus.emit as (n: RelayedName, e: unknown) => void)(name, event);
  }

  /** The cluster's last readings, devices' statuses and silences, actuators' reports and recent feed, for a live view that starts empty. */
  private async seed(): Promise<void> {
    const [devices, said, recent] = await Promise.all([this.pub.hgetall(KEYS.liveDevices), this.pub.hgetall(KEYS.liveSaid), this.pub.lrange(`${KEYS.live}:recent`, 0, RECENT - 1)]);
    // What cannot be read (another version's, damaged) is passed over, like a message's items.
    const parsed = (json: string): unknown => {
      try {
        return JSON.parse(json);
      } catch {
        return undefined;
      }
    };
    for (const r of Object.values(devices).map(parsed)) if (isCompact(r)) this.o.liveBus.emit('reading', reading(r));
    // Statuses before silences: a silence is shown only on a device the page already has.
    const order: readonly RelayedName[] = ['deviceStatus', 'actuatorState', 'deviceSilence'];
    const kept = Object.values(said).map(parsed).filter(isRelayed).filter((e) => saidKey(e) !== undefined);
    kept.sort((x, y) => order.indexOf(x.name) - order.indexOf(y.name) || timeOf(x) - timeOf(y));
    for (const e of kept) (this.o.liveBus.emit as (n: RelayedName, e: unknown) => void)(e.name, e.event);
    for (const e of recent.reverse().map(parsed)) if (isRelayed(e)) (this.o.liveBus.emit as (n: RelayedName, e: unknown) => void)(e.name, e.event);
  }
}

/** Enough of a reading for the live view (device, site, zone, kind, value, time). */
function reading(r: CompactReading): ReadingEvent {
  const time = new Date(r.t).toISOString();
  return { id: '', type: `sensor.${r.k}`, source: `${r.s}/${r.z}/${r.d}`, time, receivedAt: time, seq: undefined, site: r.s, zone: r.z, device: r.d, kind: r.k, value: r.v, numeric: 0, timeMs: r.t, clientId: undefined };
}

/** What a live page lists in its feed (live.ts): an alarm's `updated` transitions are not listed, so not kept either. */
function inFeed(e: { name: RelayedName; event: unknown }): boolean {
  if (e.name === 'alarm') return (e.event as EventMap['alarm']).transition !== 'updated';
  return e.name === 'command' || e.name === 'alert' || e.name === 'deadletter';
}

/** The field a device's status or silence, or an actuator's report, is kept under (the last replaces the one before); none for other events. */
function saidKey(e: { name: RelayedName; event: unknown }): string | undefined {
  const x = e.event as { device?: unknown; site?: unknown; zone?: unknown; actuator?: unknown } | null;
  if (typeof x !== 'object' || x === null) return undefined;
  if ((e.name === 'deviceStatus' || e.name === 'deviceSilence') && isText(x.device)) return `${e.name}|${x.device}`;
  if (e.name === 'actuatorState' && isText(x.site) && isText(x.zone) && isText(x.actuator)) return `${e.name}|${x.site}/${x.zone}/${x.actuator}`;
  return undefined;
}

/** The key a state-like event is coalesced under within one interval: its `saidKey`, a zone's armed state, a command's status. */
function stateKey(e: { name: RelayedName; event: unknown }): string | undefined {
  const said = saidKey(e);
  if (said !== undefined) return said;
  const x = e.event as { site?: unknown; zone?: unknown; commandId?: unknown } | null;
  if (typeof x !== 'object' || x === null) return undefined;
  if (e.name === 'zoneArmed' && isText(x.site) && isText(x.zone)) return `${e.name}|${x.site}/${x.zone}`;
  if (e.name === 'commandStatus' && isText(x.commandId)) return `${e.name}|${x.commandId}`;
  return undefined;
}

const timeOf = (e: { event: unknown }): number => Number((e.event as { timeMs?: unknown }).timeMs) || 0;

const isText = (v: unknown): v is string => typeof v === 'string';

/** A reading as a node of this version writes it: its time finite (else `reading()` throws), its names strings. */
function isCompact(r: unknown): r is CompactReading {
  const c = r as Partial<CompactReading> | null;
  return typeof c === 'object' && c !== null && isText(c.d) && isText(c.s) && isText(c.z) && isText(c.k) && Number.isFinite(c.t) && Math.abs(c.t!) <= 8.64e15;
}

function isRelayed(e: unknown): e is LiveBatch['events'][number] {
  const x = e as { name?: unknown } | null;
  return typeof x === 'object' && x !== null && RELAYED.includes(x.name as RelayedName);
}

/** The batch with the items this node can show; `skipped`: items it cannot read (another version's, or hostile). */
function parseBatch(message: string): (LiveBatch & { skipped: number }) | undefined {
  try {
    const batch = JSON.parse(message) as Partial<LiveBatch> | null;
    if (!batch || !Array.isArray(batch.readings) || !Array.isArray(batch.events)) return undefined;
    const readings = batch.readings.filter(isCompact);
    const events = batch.events.filter(isRelayed);
    return { node: String(batch.node), readings, events, skipped: batch.readings.length - readings.length + batch.events.length - events.length };
  } catch {
    return undefined;
  }
}
