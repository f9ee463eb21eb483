import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Aedes, Client, PublishPacket, Subscription } from 'aedes';
import { copyOf, payloadBytes, Queue, type Stored } from './session-queue.js';

/**
 * Aedes' persistence with bounds (docs/findings-15.md § A). Subscriptions, retained messages and
 * wills go to aedes-persistence's memory store (its exact version is pinned in package.json;
 * test/unit/broker/persistence.test.ts fails if what this file relies on changes); the two
 * stores that grew without limit are kept here instead:
 *
 * - **incoming QoS 2** (received, PUBREC sent, PUBREL awaited): a stub per message id, never the
 *   payload (aedes 1.2 publishes on PUBLISH and only asks whether an id is known), counted per
 *   client id *across sessions*, within `maxInflightQos2` messages and `maxInflightQos2Bytes`
 *   payload bytes; one more rejects, which makes Aedes close the connection;
 * - **outgoing queues** of persistent sessions: per client id, an ordered Map with indexes by
 *   `brokerId:brokerCounter` and by message id (no scans), within `maxQueuedMessages` and
 *   `maxQueuedBytes` per session and `maxQueuedBytesTotal` in all; beyond, the oldest is dropped
 *   (the largest queue's, over the total) and counted.
 *
 * It also stores only the subscriptions the gateway granted (`takeGranted`): Aedes 1.2 hands
 * `addSubscriptions` every filter of a SUBSCRIBE packet, refused ones included, once per granted
 * filter (k² work, and refused filters fed from the offline queue); and removes persistent
 * sessions whose client has been away `sessionExpiryMs`.
 */

export interface PersistenceLimits {
  readonly maxInflightQos2: number;
  readonly maxInflightQos2Bytes: number;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly maxQueuedBytesTotal: number;
  /** 0 = never. */
  readonly sessionExpiryMs: number;
}

export interface PersistenceHooks {
  /** The subscriptions granted to this client since the last call, to store (see SubscriptionLedger). */
  takeGranted?(client: Client): readonly Subscription[];
  /** A QoS 2 publish refused over the limits (the connection is then closed by Aedes). */
  onInflightRefused?(client: Client, detail: string): void;
  /** Messages dropped from a session's queue. */
  onQueueDropped?(clientId: string, dropped: number): void;
  onSessionExpired?(clientId: string): void;
  now?(): number;
}

/** What the memory store of aedes-persistence 11 offers (asyncPersistence.js), as far as used here. */
interface MemoryStore {
  setup(broker: Aedes): Promise<void>;
  storeRetained(packet: PublishPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: { id: string }, subs: readonly Subscription[]): Promise<void>;
  removeSubscriptions(client: { id: string }, subs: string[]): Promise<void>;
  subscriptionsByClient(client: { id: string }): Promise<Subscription[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(pattern: string): Promise<{ clientId: string; topic: string; qos: number }[]>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  putWill(client: { id: string }, packet: PublishPacket): Promise<void>;
  getWill(client: { id: string }): Promise<PublishPacket | undefined>;
  delWill(client: { id: string; brokerId?: string }): Promise<PublishPacket | undefined>;
  streamWill(brokers?: Record<string, number>): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;
}

const require = createRequire(import.meta.url);
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => MemoryStore;

const SWEEP_MS = 60_000;

export class BoundedPersistence {
  private readonly store = new MemoryPersistence();
  private broker: Aedes | undefined;
  /**
   * Per client id. Plain Maps, not BoundedMaps: forgetting an entry to make room would lift its
   * bound (or leave a session that never expires). They are bounded by their own rules instead:
   * the limits above, sessions expiring, and one client id per credential (acl.ts).
   */
  private readonly incoming = new Map<string, { readonly ids: Map<number, number>; bytes: number }>();
  private readonly outgoing = new Map<string, Queue>();
  /** Persistent sessions whose client left, and when. */
  private readonly away = new Map<string, number>();
  private inflightCount = 0;
  private queuedBytes = 0;
  private queuedCount = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: PersistenceLimits,
    private readonly hooks: PersistenceHooks = {},
  ) {}

  private now(): number {
    return this.hooks.now?.() ?? Date.now();
  }

  /** Unreleased QoS 2 messages, all clients. */
  get inflightQos2(): number {
    return this.inflightCount;
  }

  get queued(): { messages: number; bytes: number } {
    return { messages: this.queuedCount, bytes: this.queuedBytes };
  }

  async setup(broker: Aedes): Promise<void> {
    this.broker = broker;
    await this.store.setup(broker);
    broker.on('clientDisconnect', (client: Client) => {
      if (!client.clean) this.away.set(client.id, this.now());
    });
    broker.on('client', (client: Client) => void this.away.delete(client.id));
    broker.once('closed', () => clearInterval(this.sweeper));
    if (this.limits.sessionExpiryMs > 0) {
      this.sweeper = setInterval(() => void this.expire(), Math.min(SWEEP_MS, this.limits.sessionExpiryMs));
      this.sweeper.unref();
    }
  }

  /** Removes the sessions away longer than the expiry (run every minute; tests call it). */
  async expire(): Promise<number> {
    const cutoff = this.now() - this.limits.sessionExpiryMs;
    let expired = 0;
    for (const [clientId, since] of this.away) {
      if (since > cutoff) continue;
      this.away.delete(clientId);
      if ((this.broker as unknown as { clients?: Record<string, unknown> } | undefined)?.clients?.[clientId]) continue;
      await this.store.cleanSubscriptions({ id: clientId });
      await this.store.delWill({ id: clientId });
      this.dropQueue(clientId);
      this.dropIncoming(clientId);
      expired++;
      this.hooks.onSessionExpired?.(clientId);
    }
    return expired;
  }

  // Retained messages and wills: the memory store's (the retained byte budget is the publish hook's, retained.ts).
  storeRetained(packet: PublishPacket): Promise<void> {
    return this.store.storeRetained(packet);
  }

  createRetainedStream(pattern: string): Readable {
    return this.store.createRetainedStream(pattern);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.store.createRetainedStreamCombi(patterns);
  }

  putWill(client: Client, packet: PublishPacket): Promise<void> {
    return this.store.putWill(client, packet);
  }

  getWill(client: Client): Promise<PublishPacket | undefined> {
    return this.store.getWill(client);
  }

  delWill(client: { id: string; brokerId?: string }): Promise<PublishPacket | undefined> {
    return this.store.delWill(client);
  }

  streamWill(brokers?: Record<string, number>): Readable {
    return this.store.streamWill(brokers);
  }

  getClientList(topic: string): Readable {
    return this.store.getClientList(topic);
  }

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
    this.away.delete(client.id);
  }

  // Outgoing queues of persistent sessions.
  async outgoingEnqueue(sub: { clientId: string }, packet: Stored): Promise<void> {
    this.enqueue(sub.clientId, packet);
  }

  async outgoingEnqueueCombi(subs: readonly { clientId: string }[], packet: Stored): Promise<void> {
    for (const sub of subs) this.enqueue(sub.clientId, packet);
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

  private enqueue(clientId: string, packet: Stored): void {
    let queue = this.outgoing.get(clientId);
    if (!queue) this.outgoing.set(clientId, (queue = new Queue()));
    const before = queue.bytes;
    queue.push(copyOf(packet));
    this.account(1, queue.bytes - before);
    const { maxQueuedMessages, maxQueuedBytes, maxQueuedBytesTotal } = this.limits;
    let dropped = 0;
    // The newest stays even when it alone is over the byte bound: it is what a returning client wants.
    while (queue.size > 1 && ((maxQueuedMessages > 0 && queue.size > maxQueuedMessages) || (maxQueuedBytes > 0 && queue.bytes > maxQueuedBytes))) {
      dropped += this.dropOldestOf(queue);
    }
    if (dropped > 0) this.hooks.onQueueDropped?.(clientId, dropped);
    if (maxQueuedBytesTotal > 0) this.withinTotal(maxQueuedBytesTotal);
  }

  /** Over the total: the largest queue loses its oldest, until the total holds. */
  private withinTotal(max: number): void {
    while (this.queuedBytes > max) {
      let largest: [string, Queue] | undefined;
      for (const entry of this.outgoing) if (!largest || entry[1].bytes > largest[1].bytes) largest = entry;
      if (!largest || largest[1].size === 0) return;
      this.dropOldestOf(largest[1]);
      this.hooks.onQueueDropped?.(largest[0], 1);
      if (largest[1].size === 0) this.outgoing.delete(largest[0]);
    }
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

  // Incoming QoS 2, awaiting PUBREL: stubs only.
  async incomingStorePacket(client: Client, packet: Stored): Promise<void> {
    const messageId = packet.messageId ?? 0;
    let held = this.incoming.get(client.id);
    if (!held) this.incoming.set(client.id, (held = { ids: new Map(), bytes: 0 }));
    const bytes = payloadBytes(packet);
    const previous = held.ids.get(messageId);
    const { maxInflightQos2, maxInflightQos2Bytes } = this.limits;
    if (previous === undefined) {
      if (maxInflightQos2 > 0 && held.ids.size >= maxInflightQos2) return this.refuseInflight(client, `${held.ids.size} QoS 2 messages not released (no PUBREL), the limit is ${maxInflightQos2} (MQTT_MAX_INFLIGHT_QOS2)`);
      if (maxInflightQos2Bytes > 0 && held.bytes + bytes > maxInflightQos2Bytes) {
        return this.refuseInflight(client, `${held.bytes} bytes of QoS 2 messages not released (no PUBREL), the limit is ${maxInflightQos2Bytes} (MQTT_MAX_INFLIGHT_QOS2_BYTES)`);
      }
      this.inflightCount++;
    }
    held.bytes += bytes - (previous ?? 0);
    held.ids.set(messageId, bytes);
  }

  private refuseInflight(client: Client, detail: string): never {
    this.hooks.onInflightRefused?.(client, detail);
    throw new InflightLimitError(detail);
  }

  async incomingGetPacket(client: Client, packet: Stored): Promise<Stored> {
    const messageId = packet.messageId ?? 0;
    if (!this.incoming.get(client.id)?.ids.has(messageId)) throw new Error('no such packet');
    return { cmd: 'publish', messageId, qos: 2 };
  }

  async incomingDelPacket(client: Client, packet: Stored): Promise<void> {
    const held = this.incoming.get(client.id);
    const messageId = packet.messageId ?? 0;
    const bytes = held?.ids.get(messageId);
    if (!held || bytes === undefined) throw new Error('no such packet');
    held.ids.delete(messageId);
    held.bytes -= bytes;
    this.inflightCount--;
    if (held.ids.size === 0) this.incoming.delete(client.id);
  }

  async cleanIncoming(client: Client): Promise<void> {
    this.dropIncoming(client.id);
  }

  private dropIncoming(clientId: string): void {
    const held = this.incoming.get(clientId);
    if (!held) return;
    this.inflightCount -= held.ids.size;
    this.incoming.delete(clientId);
  }

  async destroy(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.store.destroy();
  }
}

/** The error Aedes gets for a QoS 2 publish over the limits (already counted: not a protocol error). */
export class InflightLimitError extends Error {
  override readonly name = 'InflightLimitError';
}
