import { Readable } from 'node:stream';
import type { Aedes, Client, PublishPacket, Subscription } from 'aedes';
import { AwaySessions, type EvictReason } from './away-sessions.js';
import { IncomingQos2 } from './incoming-qos2.js';
import { connectedIds, MemoryPersistence, type MemoryStore } from './memory-store.js';
import { copyOf, Queue, queuedCost, trimLargest, type Stored } from './session-queue.js';

/**
 * Aedes' persistence with bounds (docs/findings-15.md § A). Subscriptions, retained messages and
 * wills go to aedes-persistence's memory store (a cluster node's: Redis, cluster-persistence.ts;
 * the memory store's exact version is pinned in package.json;
 * test/unit/broker/persistence.test.ts fails if what this file relies on changes); the two
 * stores that grew without limit are kept here instead:
 *
 * - **incoming QoS 2** (PUBREL awaited): stubs within `maxInflightQos2`/`_Bytes` (incoming-qos2.ts);
 * - **outgoing queues** of persistent sessions: per client id, an ordered Map with indexes by
 *   `brokerId:brokerCounter` and by message id (no scans), within `maxQueuedMessages` and
 *   `maxQueuedBytes` per session and `maxQueuedBytesTotal` in all, each message counted as its
 *   payload, topic and measured overhead (queuedCost); beyond, the oldest is dropped (the largest
 *   queue's, over the total) and counted.
 *
 * It also stores only the subscriptions the gateway granted (`takeGranted`): Aedes 1.2 hands
 * `addSubscriptions` every filter of a SUBSCRIBE packet, refused ones included, once per granted
 * filter (k² work, and refused filters fed from the offline queue); and removes persistent
 * sessions whose client has been away `sessionExpiryMs`, or early, the one away longest first,
 * past `maxAwaySessions` or `maxAwaySubscriptions` (away-sessions.ts).
 */

export interface PersistenceLimits {
  readonly maxInflightQos2: number;
  readonly maxInflightQos2Bytes: number;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly maxQueuedBytesTotal: number;
  /** 0 = never. */
  readonly sessionExpiryMs: number;
  /** Persistent sessions kept while their client is away; past it the one away longest goes (0 = no limit). */
  readonly maxAwaySessions?: number;
  /** Filters held by all the persistent sessions away together; past it the one away longest goes (0 = no limit). */
  readonly maxAwaySubscriptions?: number;
  /** Persistent sessions away of one credential (`ownerOf`); past it its own away longest goes (0 = no limit). */
  readonly maxAwaySessionsPerCredential?: number;
}

export interface PersistenceHooks {
  /** The subscriptions granted to this client since the last call, to store (see SubscriptionLedger). */
  takeGranted?(client: Client): readonly Subscription[];
  /** A QoS 2 publish refused over the limits (the connection is then closed by Aedes). */
  onInflightRefused?(client: Client, detail: string): void;
  /** Messages dropped from a session's queue. */
  onQueueDropped?(clientId: string, dropped: number): void;
  onSessionExpired?(clientId: string): void;
  /** A session removed early: more than `maxAwaySessions` were away (or of its credential), or they held more than `maxAwaySubscriptions` filters. */
  onSessionEvicted?(clientId: string, reason: EvictReason, filters: number | undefined, owner: string | undefined): void;
  /** The credential a client id is held by, when that credential is held to `maxAwaySessionsPerCredential`. */
  ownerOf?(clientId: string): string | undefined;
  now?(): number;
}

const SWEEP_MS = 60_000;

export class BoundedPersistence {
  private broker: Aedes | undefined;
  readonly incoming: IncomingQos2;
  /**
   * Per client id. Plain Maps, not BoundedMaps: forgetting an entry to make room would lift its
   * bound (or leave a session that never expires). They are bounded by their own rules instead:
   * the limits above, sessions expiring, and one client id per credential (acl.ts).
   */
  protected readonly outgoing = new Map<string, Queue>();
  /** Persistent sessions whose client left, when, and the filters they hold. */
  protected readonly away: AwaySessions;
  private queuedBytes = 0;
  private queuedCount = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    protected readonly limits: PersistenceLimits,
    protected readonly hooks: PersistenceHooks = {},
    /** Where subscriptions, retained messages and wills are kept (a cluster's: Redis). */
    protected readonly store: MemoryStore = new MemoryPersistence(),
  ) {
    this.incoming = new IncomingQos2(limits, hooks);
    this.away = new AwaySessions(limits.maxAwaySessions ?? 0, limits.maxAwaySubscriptions ?? 0, limits.maxAwaySessionsPerCredential ?? 0);
  }

  private now(): number {
    return this.hooks.now?.() ?? Date.now();
  }

  /** Unreleased QoS 2 messages, all clients. */
  get inflightQos2(): number {
    return this.incoming.count;
  }

  get queued(): { messages: number; bytes: number } {
    return { messages: this.queuedCount, bytes: this.queuedBytes };
  }

  async setup(broker: Aedes): Promise<void> {
    this.broker = broker;
    await this.store.setup(broker);
    broker.on('clientDisconnect', (client: Client) => {
      if (client.clean) return;
      const at = this.now();
      this.away.left(client.id, at, undefined, this.hooks.ownerOf?.(client.id));
      // Client ids cost nothing to make up: the sessions kept for absent clients, and their filters, are bounded too.
      this.evict();
      if ((this.limits.maxAwaySubscriptions ?? 0) <= 0) return;
      this.store.subscriptionsByClient({ id: client.id }).then(
        (subs) => {
          this.away.counted(client.id, at, subs.length);
          this.evict();
        },
        () => undefined,
      );
    });
    broker.on('client', (client: Client) => void this.away.back(client.id));
    broker.once('closed', () => clearInterval(this.sweeper));
    if (this.limits.sessionExpiryMs > 0) {
      this.sweeper = setInterval(() => void this.expire(), Math.min(SWEEP_MS, this.limits.sessionExpiryMs));
      this.sweeper.unref();
    }
  }

  /** Ends the sessions away longest while over a bound. */
  private evict(): void {
    for (const { clientId, since, filters, reason, owner } of this.away.over()) {
      // A store that refuses (Redis away): kept as away, a sweep ends it.
      this.end(clientId).then((ended) => ended && this.hooks.onSessionEvicted?.(clientId, reason, filters, owner), () => this.away.left(clientId, since, filters, owner));
    }
  }

  /** Removes the sessions away longer than the expiry (run every minute; tests call it). */
  async expire(): Promise<number> {
    const cutoff = this.now() - this.limits.sessionExpiryMs;
    let expired = 0;
    // A snapshot: a session whose store refused (Redis away) goes back in, for the next sweep.
    for (const [clientId, since] of this.away.entries()) {
      if (since > cutoff) continue;
      this.away.back(clientId);
      if (!(await this.end(clientId).catch(() => void this.away.left(clientId, since, undefined, this.hooks.ownerOf?.(clientId))))) continue;
      expired++;
      this.hooks.onSessionExpired?.(clientId);
    }
    return expired;
  }

  /**
   * Removes an absent client's session (subscriptions, will, queue, unreleased QoS 2); false if it
   * is back. Through the same methods Aedes calls, so a subclass that keeps copies (file-persistence.ts's
   * snapshot) sees an eviction or an expiry as it sees a clean session start.
   */
  private async end(clientId: string): Promise<boolean> {
    if (connectedIds(this.broker)?.[clientId]) return false;
    const client = { id: clientId } as Client;
    await this.cleanSubscriptions(client);
    await this.delWill(client);
    this.incoming.drop(clientId);
    this.ended(clientId);
    return true;
  }

  /** A session was removed by `end` (subclasses mark their state changed). */
  protected ended(_clientId: string): void {}

  // Retained messages and wills: the memory store's (the retained byte budget is the publish hook's, retained.ts).
  storeRetained(packet: PublishPacket): Promise<void> { return this.store.storeRetained(packet); }
  createRetainedStream(pattern: string): Readable { return this.store.createRetainedStream(pattern); }
  createRetainedStreamCombi(patterns: string[]): Readable { return this.store.createRetainedStreamCombi(patterns); }
  putWill(client: Client, packet: PublishPacket): Promise<void> { return this.store.putWill(client, packet); }
  getWill(client: Client): Promise<PublishPacket | undefined> { return this.store.getWill(client); }
  delWill(client: { id: string; brokerId?: string }): Promise<PublishPacket | undefined> { return this.store.delWill(client); }
  streamWill(brokers?: Record<string, number>): Readable { return this.store.streamWill(brokers); }
  getClientList(topic: string): Readable { return this.store.getClientList(topic); }

  // Subscriptions.
  async addSubscriptions(client: Client, subs: readonly Subscription[]): Promise<void> {
    const granted = this.hooks.takeGranted ? this.hooks.takeGranted(client) : subs;
    if (granted.length > 0) await this.store.addSubscriptions(client, granted);
  }

  removeSubscriptions(client: Client, subs: string[]): Promise<void> {
    return this.store.removeSubscriptions(client, subs);
  }

  subscriptionsByClient(client: Client): Promise<Subscription[]> {
    return this.store.subscriptionsByClient(client);
  }

  countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return this.store.countOffline();
  }

  subscriptionsByTopic(pattern: string): Promise<{ clientId: string; topic: string; qos: number }[]> {
    return this.store.subscriptionsByTopic(pattern);
  }

  /** A clean session starts (or a session ends): its subscriptions and its queue go. */
  async cleanSubscriptions(client: Client): Promise<void> {
    await this.store.cleanSubscriptions(client);
    this.dropQueue(client.id);
    this.away.back(client.id);
  }

  // Outgoing queues of persistent sessions.
  async outgoingEnqueue(sub: { clientId: string }, packet: Stored): Promise<void> {
    this.enqueue(sub.clientId, packet, queuedCost(packet));
  }

  async outgoingEnqueueCombi(subs: readonly { clientId: string }[], packet: Stored): Promise<void> {
    const cost = queuedCost(packet);
    // The total is held once the message is in every queue: once per publish, not once per session.
    for (const sub of subs) this.enqueue(sub.clientId, packet, cost, false);
    if (this.limits.maxQueuedBytesTotal > 0) this.withinTotal(this.limits.maxQueuedBytesTotal);
  }

  async outgoingUpdate(client: Client, packet: Stored): Promise<void> {
    this.outgoing.get(client.id)?.update(packet);
  }

  async outgoingClearMessageId(client: Client, packet: Stored): Promise<Stored | undefined> {
    const queue = this.outgoing.get(client.id);
    if (!queue) return undefined;
    const before = queue.bytes;
    const found = queue.clear(packet);
    if (found) this.account(-1, queue.bytes - before);
    if (queue.size === 0) this.outgoing.delete(client.id);
    return found;
  }

  outgoingStream(client: Client): Readable {
    // A copy: entries cleared while the stream is read must not shift it.
    return Readable.from([...(this.outgoing.get(client.id)?.entries.values() ?? [])].map((e) => e.packet));
  }

  /** `cost`: payload, topic and the measured overhead of a queued message (session-queue.ts), not the payload alone. */
  private enqueue(clientId: string, packet: Stored, cost: number, holdTotal = true): void {
    let queue = this.outgoing.get(clientId);
    if (!queue) this.outgoing.set(clientId, (queue = new Queue()));
    const before = queue.bytes;
    queue.push(copyOf(packet), cost);
    this.account(1, queue.bytes - before);
    const { maxQueuedMessages, maxQueuedBytes, maxQueuedBytesTotal } = this.limits;
    let dropped = 0;
    // The newest stays even when it alone is over the byte bound: it is what a returning client wants.
    while (queue.size > 1 && ((maxQueuedMessages > 0 && queue.size > maxQueuedMessages) || (maxQueuedBytes > 0 && queue.bytes > maxQueuedBytes))) {
      dropped += this.dropOldestOf(queue);
    }
    if (dropped > 0) this.hooks.onQueueDropped?.(clientId, dropped);
    if (holdTotal && maxQueuedBytesTotal > 0) this.withinTotal(maxQueuedBytesTotal);
  }

  /** Over the total: the largest queue loses its oldest, until the total holds. */
  private withinTotal(max: number): void {
    trimLargest(this.outgoing, () => this.queuedBytes > max, (q) => this.dropOldestOf(q), (id) => this.hooks.onQueueDropped?.(id, 1), (id) => this.outgoing.delete(id));
  }

  private dropOldestOf(queue: Queue): number {
    const before = queue.bytes;
    if (!queue.dropOldest()) return 0;
    this.account(-1, queue.bytes - before);
    return 1;
  }

  private dropQueue(clientId: string): void {
    const queue = this.outgoing.get(clientId);
    if (!queue) return;
    this.account(-queue.size, -queue.bytes);
    this.outgoing.delete(clientId);
  }

  private account(messages: number, bytes: number): void {
    this.queuedCount += messages;
    this.queuedBytes += bytes;
  }

  // Incoming QoS 2, awaiting PUBREL: stubs only (incoming-qos2.ts).
  incomingStorePacket(client: Client, packet: Stored): Promise<void> { return this.incoming.store(client, packet); }
  incomingGetPacket(client: Client, packet: Stored): Promise<Stored> { return this.incoming.get(client, packet); }
  incomingDelPacket(client: Client, packet: Stored): Promise<void> { return this.incoming.del(client, packet); }

  async cleanIncoming(client: Client): Promise<void> {
    this.incoming.drop(client.id);
  }

  async destroy(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.store.destroy();
  }
}

export { InflightLimitError } from './incoming-qos2.js';
export { connectedIds, type MemoryStore } from './memory-store.js';
