import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { History } from '../core/history.js';
import { connectRedis } from '../core/redis.js';
import type { Metrics } from '../observability/metrics.js';
import type { RuleSet } from '../rules/loader.js';
import type { RuleOutputs } from '../rules/outputs.js';
import type { CommandSettings, RuntimeObserver } from '../rules/runtime.js';
import { decodeSnapshot } from '../rules/shared-state.js';
import type { JournalCursor } from '../storage/journal.js';
import { clusterRoute } from './cluster-route.js';
import { Forwarder } from './forwarder.js';
import { LeaseManager, type Lease } from './leases.js';
import { readOwnedGauges } from './owned-gauges.js';
import { PartitionWorker, type StreamEntry } from './partition-worker.js';
import { KEYS, withScripts } from './redis-keys.js';
import { ClusterRulesView } from './rules-view.js';

export interface ClusterNodeOptions {
  readonly redisUrl: string;
  readonly nodeId: string;
  readonly partitions: number;
  readonly leaseMs: number;
  readonly staleAfterMs: number;
  readonly cursor: JournalCursor;
  /** SPOOL_MAX_BYTES: the most kept for forwarding too. */
  readonly maxBacklogBytes: number;
  readonly rules: () => RuleSet;
  /** COMMAND_CONFIRM_MS, COMMAND_RETRIES, MANUAL_HOLD_MS: every partition's sagas. */
  readonly commands: CommandSettings;
  /** Where the owners' committed outputs go: stored, announced and published here (rules/outputs.ts, as a single gateway's). */
  readonly outputs: RuleOutputs;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer?: RuntimeObserver;
  /** What the cluster view shows of this node (its ports). */
  readonly info: () => Readonly<Record<string, unknown>>;
  /** InfluxDB's history, and REBUILD_WAIT_MS: a partition whose shared state Redis lost is rebuilt from it. */
  readonly history?: { readonly history: History; readonly waitMs: number };
}

const STREAM_PREFIX = KEYS.stream(0).slice(0, -1);

/** How long one XREAD waits for new entries (also how soon a newly owned partition is read). */
const BLOCK_MS = 200;

/**
 * One gateway as a node of a cluster: forwards its spool's readings to the partition streams,
 * holds the leases rendezvous hashing gives it, rules those partitions (one PartitionWorker
 * each) from their streams, and publishes what the rules decide. Serves the cluster's view:
 * `/api/zones` from the shared state of every partition, `/api/cluster` (nodes, owners, lag).
 */
export class ClusterNode {
  readonly runId = randomBytes(6).toString('hex');
  private readonly redis: Redis;
  private readonly reader: Redis;
  private readonly script: ReturnType<typeof withScripts>;
  readonly leases: LeaseManager;
  private readonly forwarder: Forwarder;
  private readonly workers = new Map<number, PartitionWorker>();
  /** Partitions acquired and still rebuilding. */
  private readonly starting = new Map<number, PartitionWorker>();
  private running = false;
  private loop: Promise<void> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly lag = new Map<number, number>();
  /** The alarms and actuators of every partition (the API and the live page of this node). */
  readonly rulesView: ClusterRulesView;
  private readonly off: (() => void)[] = [];

  constructor(private readonly o: ClusterNodeOptions) {
    const log = o.log;
    this.redis = connectRedis(o.redisUrl, `gw-${o.nodeId}-cmd`);
    this.reader = connectRedis(o.redisUrl, `gw-${o.nodeId}-read`, { commandTimeout: BLOCK_MS + 2000 });
    for (const c of [this.redis, this.reader]) c.on('error', () => undefined);
    this.script = withScripts(this.redis);
    this.leases = new LeaseManager({ redis: this.redis, nodeId: o.nodeId, runId: this.runId, partitions: o.partitions, leaseMs: o.leaseMs, info: o.info, log, dataLost: () => o.metrics.clusterDataLost.inc() });
    this.forwarder = new Forwarder({ cursor: o.cursor, redis: this.redis, nodeId: o.nodeId, partitions: o.partitions, log, maxBacklogBytes: o.maxBacklogBytes, skipped: (n) => o.metrics.clusterForwardSkipped.inc(n) });
    this.rulesView = new ClusterRulesView({ redis: this.redis, partitions: o.partitions, log });
    o.metrics.readCluster(() => this.status());
    readOwnedGauges(o.metrics, () => this.workers.values());
  }

  /**
   * The live page of this node: the rules' view is read again when a command, alarm, saga step or
   * report is relayed (from any node), and `changed` is called when what it shows changed.
   */
  showOn(liveBus: EventBus, changed: () => void): void {
    this.rulesView.onChange(changed);
    const refresh = (): void => void this.rulesView.refresh();
    this.off.push(liveBus.on('command', refresh), liveBus.on('alarm', refresh), liveBus.on('commandStatus', refresh), liveBus.on('actuatorState', refresh));
  }

  /** The API's rules (http/actions.ts) for a cluster node: alarms and actuators of every partition, acknowledgements carried to the owners. */
  rulesApi<T extends object>(local: T): T & Pick<ClusterRulesView, 'alarms' | 'alarm' | 'actuators' | 'acknowledge'> {
    const view = this.rulesView;
    return Object.assign(Object.create(local) as T, {
      alarms: () => view.alarms(),
      alarm: (id: string) => view.alarm(id),
      actuators: () => view.actuators(),
      acknowledge: (a: Parameters<ClusterRulesView['acknowledge']>[0]) => view.acknowledge(a),
    });
  }

  /** What /readyz, /metrics and the stats point show of this node. */
  status(): { node: string; redisUp: boolean; owned: number[]; lagSeconds: Map<number, number>; forwardBacklog: number; liveNodes: number } {
    return {
      node: this.o.nodeId,
      redisUp: this.leases.redisReachable && this.forwarder.healthy,
      owned: [...this.workers.keys()].sort((a, b) => a - b),
      lagSeconds: new Map([...this.lag].filter(([p]) => this.workers.has(p)).map(([p, ms]) => [p, ms / 1000])),
      forwardBacklog: this.o.cursor.stats().events,
      liveNodes: this.leases.liveNodes.length,
    };
  }

  async start(): Promise<void> {
    this.running = true;
    this.forwarder.start();
    await this.rulesView.start();
    // An acknowledgement over MQTT, taken by this node's ingest, goes to the alarm's owner.
    this.off.push(this.o.bus.on('alarmAck', (a) => void this.rulesView.acknowledge(a).catch((err: unknown) => this.o.log.warn({ err: (err as Error).message, alarmId: a.alarmId }, 'could not carry an acknowledgement to its owner'))));
    await this.leases.join({ acquired: (lease) => this.acquired(lease), release: (lease, reason) => this.release(lease, reason) });
    this.loop = this.read();
    (this.statusTimer = setInterval(() => void this.measureLag(), 1000)).unref();
    this.o.log.info({ node: this.o.nodeId, partitions: this.o.partitions, live: this.leases.liveNodes }, 'joined the cluster');
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const off of this.off.splice(0)) off();
    this.rulesView.stop();
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.loop;
    await this.leases.stop();
    await this.forwarder.stop();
    await Promise.all([this.redis.quit().catch(() => this.redis.disconnect()), this.reader.quit().catch(() => this.reader.disconnect())]);
  }

  /** A rule set put in force: every partition's runtime takes it. */
  useRules(set: RuleSet): void {
    for (const w of this.workers.values()) w.useRules(set);
  }

  private async acquired(lease: Lease): Promise<void> {
    const { log, metrics } = this.o;
    const worker = new PartitionWorker({
      lease,
      redis: this.redis,
      script: this.script,
      rules: this.o.rules(),
      commands: this.o.commands,
      clock: this.o.clock,
      log: log.child({ component: 'rules', partition: lease.partition }),
      staleAfterMs: this.o.staleAfterMs,
      send: (out) => this.o.outputs.send(out),
      observer: this.o.observer,
      ...(this.o.history ? { seed: { ...this.o.history, partitions: this.o.partitions } } : {}),
      fenced: () => {
        metrics.clusterFenced.inc();
        // The lease manager finds it lost at its next renewal; nothing more is written meanwhile.
        lease.validUntil = Math.min(lease.validUntil, Date.now());
      },
    });
    this.starting.set(lease.partition, worker);
    try {
      const rebuilt = await worker.start();
      if (this.starting.get(lease.partition) !== worker) {
        await worker.stop();
        return;
      }
      this.workers.set(lease.partition, worker);
      metrics.clusterTakeovers.inc();
      const from = rebuilt.fromHistory ? "stored events of InfluxDB's history (its shared state was lost)" : 'stream entries';
      log.info({ partition: lease.partition, fence: lease.token, ...rebuilt }, `partition ${lease.partition} rebuilt from ${rebuilt.replayed} ${from} in ${rebuilt.tookMs} ms; ruling it live`);
    } finally {
      this.starting.delete(lease.partition);
    }
  }

  private async release(lease: Lease, _reason: string): Promise<void> {
    const starting = this.starting.get(lease.partition);
    if (this.starting.delete(lease.partition)) await starting?.stop();
    const worker = this.workers.get(lease.partition);
    if (!worker) return;
    this.workers.delete(lease.partition);
    this.lag.delete(lease.partition);
    await worker.stop();
  }

  /** One blocking read over every live partition at a time; each worker rules its entries in order. */
  private async read(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const live = [...this.workers.values()].filter((w) => w.live);
      if (live.length === 0) {
        await sleep(BLOCK_MS);
        continue;
      }
      let reply: [string, StreamEntry[]][] | null;
      try {
        reply = (await this.reader.xread('COUNT', 1000, 'BLOCK', BLOCK_MS, 'STREAMS', ...live.map((w) => KEYS.stream(w.partition)), ...live.map((w) => w.cursor)));
        failures = 0;
      } catch (err) {
        if (failures % 20 === 0) this.o.log.warn({ err: (err as Error).message, failures }, 'cluster: reading the partition streams failed; retrying');
        await sleep(backoffDelay(failures++, 100, 2000));
        continue;
      }
      if (!reply) {
        // Nothing new for a while: the cursors of what was ruled last are written now.
        await Promise.all(live.map((w) => w.flushCursor()));
        continue;
      }
      await Promise.all(
        reply.map(async ([key, entries]) => {
          const p = Number(key.slice(STREAM_PREFIX.length));
          const worker = this.workers.get(p);
          if (!worker) return;
          const { duplicates, unreadable } = worker.counts;
          await worker.process(entries);
          this.o.metrics.clusterDuplicates.inc(worker.counts.duplicates - duplicates);
          this.o.metrics.clusterUnreadable.inc(worker.counts.unreadable - unreadable);
        }),
      );
    }
  }

  /** The newest entry of each owned stream against the last ruled (for /metrics and /readyz). */
  private async measureLag(): Promise<void> {
    this.o.metrics.clusterForwarded.inc(this.forwarder.forwarded);
    this.forwarder.forwarded = 0;
    const owned = [...this.workers.values()];
    if (owned.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const w of owned) pipeline.xrevrange(KEYS.stream(w.partition), '+', '-', 'COUNT', 1);
    const results = await pipeline.exec().catch(() => null);
    results?.forEach(([err, entries], i) => {
      const w = owned[i]!;
      if (err) return;
      const newest = (entries as StreamEntry[])[0]?.[0];
      const newestMs = newest ? Number(newest.split('-')[0]) : 0;
      this.lag.set(w.partition, newest === undefined || newest === w.cursor ? 0 : Math.max(0, newestMs - w.ruledUpToMs));
    });
  }

  readiness(): { ok: boolean; detail: string; node: string; partitions: number[]; liveNodes: readonly string[]; lagSeconds: Record<string, number> } {
    const s = this.status();
    const ok = s.redisUp;
    const lag = Object.fromEntries([...s.lagSeconds].map(([p, l]) => [String(p), l]));
    const detail = ok
      ? `node ${s.node}: Redis reachable; ${s.owned.length} of ${this.o.partitions} partitions ruled here; ${s.liveNodes} nodes live; ${s.forwardBacklog} events to forward`
      : `node ${s.node}: Redis unreachable (GW_ERR_REDIS_UNREACHABLE): the rules are stopped; ingest and storage go on; ${s.forwardBacklog} events wait to be forwarded`;
    return { ok, detail, node: s.node, partitions: s.owned, liveNodes: this.leases.liveNodes, lagSeconds: lag };
  }

  /** The armed zones of every partition's shared state; undefined when Redis cannot be read. */
  async armedStates(): Promise<{ site: string; zone: string; armed: boolean }[]> {
    const pipeline = this.redis.pipeline();
    for (let p = 0; p < this.o.partitions; p++) pipeline.hgetall(KEYS.state(p));
    const results = (await pipeline.exec().catch(() => null)) ?? [];
    if (results.length === 0 || results.some(([err]) => err)) throw new Error('Redis unreachable');
    const zones: { site: string; zone: string; armed: boolean }[] = [];
    for (const [, hash] of results) {
      for (const [key, armed] of decodeSnapshot(hash as Record<string, string>).armed) {
        const [site = '', zone = ''] = key.split('/');
        zones.push({ site, zone, armed });
      }
    }
    return zones;
  }

  /** `GET /api/zones` for the whole cluster: the armed zones of every partition's shared state. */
  readonly zonesRoute = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const zones = await this.armedStates().catch(() => undefined);
    if (!zones) {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Redis unreachable: the cluster state cannot be read (GW_ERR_REDIS_UNREACHABLE)' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ zones }));
  };

  /** `GET /api/cluster` (cluster-route.ts). */
  readonly clusterRoute = (req: IncomingMessage, res: ServerResponse): Promise<void> => clusterRoute({ redis: this.redis, partitions: this.o.partitions, liveNodes: () => this.leases.liveNodes, readiness: () => this.readiness() })(req, res);
}
