import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { GatewayError, logError } from '../core/errors.js';
import { ownerOf, partitionsFor } from '../core/partition.js';
import { KEYS, withScripts } from './redis-keys.js';

/** A partition this node holds: its fencing token, and until when (local clock) it may act on it. */
export interface Lease {
  readonly partition: number;
  readonly token: number;
  /** `<node>|<token>`, the lease key's value. */
  readonly holder: string;
  validUntil: number;
  readonly acquiredAt: number;
}

export interface LeaseEvents {
  /** The partition is ours under `lease`: start ruling it (rebuild, then live). */
  acquired(lease: Lease): Promise<void>;
  /** Stop ruling it now: handed over (`handoff`), lost, or stopping. Resolves when nothing more will be written for it. */
  release(lease: Lease, reason: 'handoff' | 'lost' | 'stopping'): Promise<void>;
}

export interface LeaseOptions {
  readonly redis: Redis;
  readonly nodeId: string;
  /** This run's id (a restart of the node is another run). */
  readonly runId: string;
  readonly partitions: number;
  readonly leaseMs: number;
  /** What the cluster view shows of this node. */
  readonly info: () => Readonly<Record<string, unknown>>;
  readonly log: Logger;
  /** Redis came back without the cluster's data (GW_ERR_CLUSTER_DATA_LOST): counted. */
  readonly dataLost?: () => void;
  readonly now?: () => number;
}

/** Why a partition became this node's, for the log: the node that had it, and whether it left or handed it over. */
function previousOwner(prev: string | undefined, self: string, now: readonly string[]): { previousOwner?: string; why?: string } {
  if (prev === undefined || prev === self) return {};
  return now.includes(prev) ? { previousOwner: prev, why: `${prev} handed it over` } : { previousOwner: prev, why: `${prev} left the cluster: its lease expired (or it let go as it stopped)` };
}

/**
 * Membership and partition ownership. Every `leaseMs/4` the node renews its membership (a
 * sorted set scored by expiry, in Redis time), reads who is live, and works out by rendezvous
 * hashing which partitions are its own: it renews the leases it holds and should, hands back
 * those a rejoined node should have, and takes free ones it should have (a new fencing token
 * each time). A lease it could not renew stops being acted on at `validUntil` — before Redis
 * lets it expire, since the time counted from is when the renewal was sent.
 */
export class LeaseManager {
  private readonly script: ReturnType<typeof withScripts>;
  private readonly held = new Map<number, Lease>();
  private readonly starting = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private live: string[] = [];
  /** Who held a partition this node wanted but could not take yet (the acquire's answer): named when it is taken. */
  private readonly heldBy = new Map<number, string>();
  /** The cluster's epoch (gw:epoch) as this node knows it: another, or none, in Redis means its data is gone. */
  private epoch: string | undefined;
  /** An epoch that began with a loss, not yet marked in Redis (gw:data-lost). */
  private lostEpoch: string | undefined;
  private redisOk = false;
  private lastProblemLogged = 0;
  private readonly now: () => number;
  private events: LeaseEvents | undefined;

  constructor(private readonly o: LeaseOptions) {
    this.script = withScripts(o.redis);
    this.now = o.now ?? Date.now;
  }

  get redisReachable(): boolean {
    return this.redisOk;
  }

  get liveNodes(): readonly string[] {
    return this.live;
  }

  /** Partitions this node holds now, in order. */
  owned(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  lease(partition: number): Lease | undefined {
    const l = this.held.get(partition);
    return l && l.validUntil > this.now() ? l : undefined;
  }

  /** Joins: PARTITIONS must match what the cluster holds; NODE_ID must not be a live node's (waits for a dead run's to expire). */
  async join(events: LeaseEvents): Promise<void> {
    this.events = events;
    const { redis, partitions, nodeId, leaseMs, runId } = this.o;
    const set = await redis.hsetnx(KEYS.config, 'partitions', String(partitions));
    const fixed = Number(await redis.hget(KEYS.config, 'partitions'));
    if (set === 0 && fixed !== partitions) {
      throw new GatewayError('GW_ERR_CLUSTER', `PARTITIONS=${partitions}, but the cluster on this Redis has ${fixed}: set PARTITIONS=${fixed} (every node must agree; to change it, stop every node and delete the gw:* keys)`);
    }
    // The first node creates the epoch; the others join it.
    await redis.set(KEYS.epoch, randomBytes(8).toString('hex'), 'NX');
    this.epoch = (await redis.get(KEYS.epoch)) ?? undefined;
    const deadline = this.now() + 2 * leaseMs + 500;
    for (;;) {
      const other = await redis.get(KEYS.node(nodeId));
      const otherRun = other ? (JSON.parse(other) as { runId?: string }).runId : undefined;
      if (!other || otherRun === runId) break;
      if (this.now() > deadline) {
        throw new GatewayError('GW_ERR_CLUSTER', `NODE_ID=${nodeId} is in use by a live node (run ${String(otherRun)}): give each node its own NODE_ID`);
      }
      this.o.log.info({ nodeId }, 'waiting for the membership of an earlier run of this node to expire');
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.tick();
    this.timer = setInterval(() => void this.tickOnce(), Math.max(100, Math.floor(leaseMs / 4)));
    this.timer.unref();
  }

  /** Lets every partition go (their owners stop first), then leaves the membership. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    for (const lease of [...this.held.values()]) await this.let(lease, 'stopping');
    await this.o.redis.zrem(KEYS.nodes, this.o.nodeId).catch(() => undefined);
    await this.o.redis.del(KEYS.node(this.o.nodeId)).catch(() => undefined);
  }

  /** One tick at a time; a slow one (Redis away) is not stacked on. */
  private tickOnce(): void {
    if (this.stopped) return;
    this.ticking = this.ticking.then(() => this.tick()).catch((err: unknown) => this.o.log.error({ err }, 'cluster tick failed'));
  }

  private async tick(): Promise<void> {
    const { nodeId, leaseMs, partitions, log } = this.o;
    const sentAt = this.now();
    // What Redis may already have expired by the time the reply comes: act only this long.
    const validFor = leaseMs - Math.max(200, Math.floor(leaseMs / 5));
    let live: string[];
    try {
      // The epoch is read (and set if gone) in the same script: no extra round trip.
      const reply = (await this.script('heartbeat', [KEYS.nodes, KEYS.node(nodeId), KEYS.epoch], [nodeId, leaseMs, JSON.stringify({ runId: this.o.runId, ...this.o.info() }), randomBytes(8).toString('hex')])) as string[];
      if (this.checkEpoch(reply[1]!)) this.lostEpoch = reply[1]!;
      // Marked before any partition is taken in this epoch (again next tick if it failed): their owners rebuild them from InfluxDB (history-seed.ts).
      if (this.lostEpoch !== undefined) {
        await this.o.redis.set(KEYS.dataLost, this.lostEpoch);
        this.lostEpoch = undefined;
      }
      live = reply.slice(2);
      if (!this.redisOk) log.info({ live }, 'Redis answers: the cluster is up');
      this.redisOk = true;
    } catch (err) {
      this.unreachable(err);
      await this.expire();
      return;
    }
    const before = this.live;
    this.live = live;
    const wanted = new Set(partitionsFor(nodeId, live, partitions));
    for (const p of this.heldBy.keys()) if (!wanted.has(p)) this.heldBy.delete(p);
    for (const lease of [...this.held.values()]) {
      if (this.stopped) return;
      if (!wanted.has(lease.partition)) {
        await this.let(lease, 'handoff');
        continue;
      }
      try {
        const renewed = (await this.script('renew', [KEYS.lease(lease.partition)], [lease.holder, leaseMs])) as number;
        if (renewed === 1) lease.validUntil = sentAt + validFor;
        else await this.let(lease, 'lost');
      } catch (err) {
        this.unreachable(err);
      }
    }
    await this.expire();
    for (const p of wanted) {
      if (this.stopped || this.held.has(p) || this.starting.has(p)) continue;
      try {
        // Redis may have lost its data since this tick's heartbeat (a renewal just failed): the script marks it before taking the lease.
        const [token, holder, epoch] = (await this.script('acquireInEpoch', [KEYS.lease(p), KEYS.fence(p), KEYS.epoch, KEYS.dataLost], [nodeId, leaseMs, this.epoch ?? '', randomBytes(8).toString('hex')])) as [number, string, string];
        this.checkEpoch(epoch);
        if (token === 0) {
          this.heldBy.set(p, holder.split('|')[0]!);
          log.debug({ partition: p, holder }, 'partition still held by another node');
          continue;
        }
        const lease: Lease = { partition: p, token, holder: `${nodeId}|${token}`, validUntil: sentAt + validFor, acquiredAt: this.now() };
        this.held.set(p, lease);
        log.info({ partition: p, fence: token, node: nodeId, at: lease.acquiredAt, ...previousOwner(this.heldBy.get(p) ?? ownerOf(p, before), nodeId, live) }, 'partition acquired');
        this.heldBy.delete(p);
        this.starting.add(p);
        // Rebuilding may take a while: the next ticks renew the lease meanwhile.
        void this.events
          ?.acquired(lease)
          .catch((err: unknown) => {
            log.error({ err, partition: p }, 'could not start ruling a partition; letting it go');
            return this.let(lease, 'lost');
          })
          .finally(() => this.starting.delete(p));
      } catch (err) {
        this.unreachable(err);
        return;
      }
    }
  }

  /** Leases whose validity ran out without a renewal: stop acting on them (Redis may hand them on any moment). */
  private async expire(): Promise<void> {
    const now = this.now();
    for (const lease of [...this.held.values()]) if (lease.validUntil <= now) await this.let(lease, 'lost');
  }

  /** Stops ruling a partition, then (unless lost) hands the lease back so the node that should have it need not wait. */
  private async let(lease: Lease, reason: 'handoff' | 'lost' | 'stopping'): Promise<void> {
    if (this.held.get(lease.partition) !== lease) return;
    try {
      await this.events?.release(lease, reason);
    } finally {
      this.held.delete(lease.partition);
      // A lost lease was not acted on past its validity: that is when this node's ownership ended.
      const at = reason === 'lost' ? Math.min(this.now(), lease.validUntil) : this.now();
      this.o.log.info({ partition: lease.partition, fence: lease.token, node: this.o.nodeId, reason, at, heldMs: at - lease.acquiredAt }, 'partition released');
    }
    if (reason !== 'lost') await this.script('release', [KEYS.lease(lease.partition)], [lease.holder]).catch(() => undefined);
  }

  /** Said once per change of epoch: Redis restarted empty (no AOF) or was flushed under the cluster; true then. */
  private checkEpoch(seen: string): boolean {
    const previous = this.epoch;
    this.epoch = seen;
    if (previous === undefined || previous === seen) return false;
    this.o.dataLost?.();
    // PARTITIONS went with it: fixed again, as the first node does.
    void this.o.redis.hsetnx(KEYS.config, 'partitions', String(this.o.partitions)).catch(() => undefined);
    logError(
      this.o.log,
      'GW_ERR_CLUSTER_DATA_LOST',
      { previousEpoch: previous, epoch: seen, owned: this.owned() },
      "Redis came back without the cluster's data (restarted without persistence, or flushed): the shared rule state is gone (armed zones, minimum on/off times, sagas and pending confirmations, active alarms); each partition is taken anew and its rule state rebuilt from InfluxDB's history, as a gateway's at start. Lost for good: readings forwarded but not yet ruled, commands committed but not yet sent, the MQTT sessions and retained messages kept there; the partitions' fencing tokens restart at 1. Run Redis with persistence: redis-server --appendonly yes --appendfsync always (what docker-compose.cluster.yml runs)",
    );
    return true;
  }

  private unreachable(err: unknown): void {
    const wasOk = this.redisOk;
    this.redisOk = false;
    const now = this.now();
    if (wasOk || now - this.lastProblemLogged > 30_000) {
      this.lastProblemLogged = now;
      logError(this.o.log, 'GW_ERR_REDIS_UNREACHABLE', { err: (err as Error).message, owned: this.owned() }, 'Redis does not answer: the rules stop once their leases run out; ingest and storage go on, forwarding resumes when Redis is back');
    }
  }
}

