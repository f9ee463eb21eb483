import type { Aedes, Client, PublishPacket } from 'aedes';
import type { Redis } from 'ioredis';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { StoreUnavailableError } from './client-errors.js';
import { ClusterIds } from './cluster-ids.js';
import { ClusterWills, type ClusterWillsOptions, type WillPacket } from './cluster-wills.js';
import { redisFailuresNamed } from './redis-wait.js';
import { BoundedPersistence, type MemoryStore, type PersistenceHooks, type PersistenceLimits } from './persistence.js';
import type { Stored } from './session-queue.js';

/** aedes-persistence-redis' store, as far as used here beyond the memory store's methods. */
export interface RedisStore extends MemoryStore {
  outgoingEnqueueCombi(subs: readonly { clientId: string }[], packet: Stored): Promise<void>;
  outgoingUpdate(client: Client, packet: Stored): Promise<void>;
  outgoingClearMessageId(client: Client, packet: Stored): Promise<Stored | undefined>;
  outgoingStream(client: Client): Readable;
}

/** aedes-persistence-redis 12's key of a client's offline queue (a list of packet keys). */
const queueKey = (clientId: string): string => `outgoing:${encodeURIComponent(clientId)}`;
/** KEYS queue; ARGV max → how many of the oldest were cut off. */
const TRIM_QUEUE = `local n = redis.call('LLEN', KEYS[1])
local max = tonumber(ARGV[1])
if n <= max then return 0 end
redis.call('LTRIM', KEYS[1], -max, -1)
return n - max`;

/**
 * The bounded persistence (persistence.ts) of a cluster node: subscriptions, retained messages,
 * wills and the offline queues of persistent sessions are in Redis (aedes-persistence-redis), so a
 * client may come back to any node. What is bounded, and how:
 *
 * - incoming QoS 2 stubs: as on a single gateway (kept on the node the client is connected to,
 *   within MQTT_MAX_INFLIGHT_QOS2 and _BYTES; a client that reconnects elsewhere mid-exchange gets
 *   its PUBREL answered as unknown, its message having been published on PUBLISH already);
 * - only granted filters are stored, as on a single gateway;
 * - offline queues: at most MQTT_MAX_QUEUED_MESSAGES per session, the oldest dropped (counted),
 *   by trimming the session's Redis list after each enqueue; a trimmed packet's body stays in Redis
 *   until its TTL (MQTT_SESSION_EXPIRY_S, else 7 days). The byte bounds (MQTT_MAX_QUEUED_BYTES,
 *   MQTT_MAX_QUEUED_BYTES_TOTAL) are NOT enforced in cluster mode, and the queue gauges stay 0;
 * - session expiry: the node a client left from removes its session after MQTT_SESSION_EXPIRY_S,
 *   unless the client connected again on any node meanwhile (Aedes announces every connection on
 *   `$SYS/<broker>/new/clients`, which reaches every node through the cluster's bus).
 *
 * Wills of other brokers' clients: published only for a client really gone (cluster-wills.ts).
 * Which credential holds each client id, on every node: cluster-ids.ts.
 */
export class ClusterPersistence extends BoundedPersistence {
  private readonly shared: RedisStore;
  private readonly wills: ClusterWills;
  readonly ids: ClusterIds;
  private brokerId = '';
  private events: NodeJS.EventEmitter | undefined;
  /** The client whose SUBSCRIBE Aedes is completing: its retained read starts in the same turn. */
  private subscriber: Client | undefined;

  constructor(limits: PersistenceLimits, hooks: PersistenceHooks, store: RedisStore, private readonly redis: Redis, wills: ClusterWillsOptions & { log?: Logger }) {
    // Redis' failures are named as such (StoreUnavailableError), never taken for a client's protocol error.
    const shared = redisFailuresNamed(store);
    super(limits, hooks, shared);
    this.shared = shared;
    redis.defineCommand('gw_trim_queue', { numberOfKeys: 1, lua: TRIM_QUEUE });
    this.wills = new ClusterWills(redis, wills);
    this.ids = new ClusterIds(redis, { sessionExpiryS: limits.sessionExpiryMs / 1000, log: wills.log });
  }

  override async setup(broker: Aedes): Promise<void> {
    await super.setup(broker);
    this.brokerId = broker.id;
    this.events = broker;
    this.ids.setup(broker);
    // Aedes emits 'subscribe' and then, synchronously, reads the new filters' retained messages.
    broker.on('subscribe', (_subs, client) => {
      this.subscriber = client;
      queueMicrotask(() => (this.subscriber = undefined));
    });
    (broker as unknown as { mq: { on(topic: string, fn: (packet: { topic: string; payload: Buffer | string }, done: () => void) => void): void } }).mq.on('$SYS/+/new/clients', (packet, done) => {
      this.away.back(packet.payload.toString());
      if (packet.topic !== `$SYS/${broker.id}/new/clients`) this.ids.elsewhere(packet.payload.toString());
      done();
    });
  }

  /** A session left here ended (expired, evicted): its client id is free on every node. */
  protected override ended(clientId: string): void {
    this.ids.ended(clientId);
  }

  /** Aedes' CONNECT deletes the client's earlier will, with a Client (no broker id): the client is here now, its will elsewhere is stale. */
  override async delWill(client: { id: string; brokerId?: string; will?: unknown }): Promise<PublishPacket | undefined> {
    if (client.brokerId === undefined && (client as { broker?: unknown }).broker !== undefined) {
      // Aedes has set the new connection's will (or none) just before.
      await this.wills.connected(client.id, this.brokerId, client.will != null).catch((err: unknown) => Promise.reject(new StoreUnavailableError(err)));
    }
    return super.delWill(client);
  }

  /** Aedes' sweep of the wills of brokers it has not heard: only those due, each claimed by one node (cluster-wills.ts). */
  override streamWill(brokers?: Record<string, number>): Readable {
    if (!this.wills.judging()) return Readable.from([]);
    return this.guarded(Readable.from(this.wills.due(this.shared.streamWill(brokers) as AsyncIterable<WillPacket>, this.brokerId)));
  }

  /** A SUBSCRIBE's retained messages: Aedes pipes them with no error handler (subscribe.js), so Redis failing the read is the subscriber's error. */
  override createRetainedStreamCombi(patterns: string[]): Readable {
    const client = this.subscriber;
    this.subscriber = undefined;
    return this.guarded(super.createRetainedStreamCombi(patterns), client);
  }

  override createRetainedStream(pattern: string): Readable {
    return this.guarded(super.createRetainedStream(pattern));
  }

  override getClientList(topic: string): Readable {
    return this.guarded(super.getClientList(topic));
  }

  override async outgoingEnqueue(sub: { clientId: string }, packet: Stored): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet);
  }

  override async outgoingEnqueueCombi(subs: readonly { clientId: string }[], packet: Stored): Promise<void> {
    await this.shared.outgoingEnqueueCombi(subs, packet);
    await this.trim(subs.map((s) => s.clientId));
  }

  override outgoingUpdate(client: Client, packet: Stored): Promise<void> {
    return this.shared.outgoingUpdate(client, packet);
  }

  override outgoingClearMessageId(client: Client, packet: Stored): Promise<Stored | undefined> {
    return this.shared.outgoingClearMessageId(client, packet);
  }

  override outgoingStream(client: Client): Readable {
    return this.guarded(this.shared.outgoingStream(client), client);
  }

  /**
   * A store's stream failing (Redis away: "Command timed out" after 10 s) with nobody listening
   * would be an uncaught 'error' that ends the node. A reader that listens (a pipeline, a
   * `for await`) handles it; else the client it was read for gets it (Aedes disconnects it, and
   * it is counted as `store_unavailable`), or, for none, the broker (logged as a broker error).
   */
  private guarded(stream: Readable, client?: Client): Readable {
    stream.on('error', (err: Error) => {
      if (stream.listenerCount('error') > 1) return;
      if (client) {
        // A client gone meanwhile: nobody to tell.
        if (!client.closed) client.emit('error', err);
        return;
      }
      this.events?.emit('error', err);
    });
    return stream;
  }

  /** Each session's queue within MQTT_MAX_QUEUED_MESSAGES: the oldest beyond go (measured and cut in one step, so concurrent enqueues count each drop once). */
  private async trim(clientIds: readonly string[]): Promise<void> {
    const max = this.limits.maxQueuedMessages;
    if (max <= 0 || clientIds.length === 0) return;
    const results = await this.redis
      .pipeline(clientIds.map((id) => ['gw_trim_queue', queueKey(id), max]))
      .exec()
      .catch((err: unknown) => Promise.reject(new StoreUnavailableError(err)));
    clientIds.forEach((id, i) => {
      const dropped = Number(results?.[i]?.[1] ?? 0);
      if (dropped > 0) this.hooks.onQueueDropped?.(id, dropped);
    });
  }
}
