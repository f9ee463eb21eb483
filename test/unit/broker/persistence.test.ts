/**
 * The bounded persistence Aedes keeps its session state in (gateway/broker/persistence.ts), on
 * its own with fake clients: unreleased QoS 2 per client id across sessions, persistent queues
 * (oldest dropped, per session and in all), the two ways a queued message is cleared, sessions
 * expiring, only granted filters stored. And a guard: the Aedes version whose calls it relies on.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Aedes, Client, Subscription } from 'aedes';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BoundedPersistence, InflightLimitError, type PersistenceLimits } from '../../../gateway/broker/persistence.js';
import { QUEUED_MESSAGE_OVERHEAD } from '../../../gateway/broker/session-queue.js';

const LIMITS: PersistenceLimits = { maxInflightQos2: 3, maxInflightQos2Bytes: 1000, maxQueuedMessages: 4, maxQueuedBytes: 1000, maxQueuedBytesTotal: 0, sessionExpiryMs: 60_000 };
const client = (id: string, clean = false): Client => ({ id, clean }) as unknown as Client;
let counter = 0;
/** What a queued message of `bytes` on the default topic counts against the byte bounds. */
const cost = (bytes: number): number => bytes + 'sensors/a/b/c/temperature'.length + QUEUED_MESSAGE_OVERHEAD;
const publish = (bytes: number, topic = 'sensors/a/b/c/temperature') => ({ cmd: 'publish', topic, payload: Buffer.alloc(bytes), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: ++counter });

async function persistence(limits: Partial<PersistenceLimits> = {}, hooks: ConstructorParameters<typeof BoundedPersistence>[1] = {}) {
  const broker = Object.assign(new EventEmitter(), { id: 'b', clients: {} });
  const p = new BoundedPersistence({ ...LIMITS, ...limits }, hooks);
  await p.setup(broker as unknown as Aedes);
  return { p, broker };
}

async function drain(stream: NodeJS.ReadableStream): Promise<{ messageId?: number; payload?: Buffer; brokerCounter?: number }[]> {
  const out: { messageId?: number; payload?: Buffer; brokerCounter?: number }[] = [];
  for await (const x of stream) out.push(x as never);
  return out;
}

describe('unreleased QoS 2 (awaiting PUBREL)', () => {
  it('keeps a stub per message id, not the payload, and refuses past MQTT_MAX_INFLIGHT_QOS2 per client id across sessions', async () => {
    const refused: string[] = [];
    const { p } = await persistence({}, { onInflightRefused: (_c, detail) => refused.push(detail) });
    for (let id = 1; id <= 3; id++) await p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: id, payload: Buffer.alloc(100) });
    expect(await p.incomingGetPacket(client('t-1'), { cmd: 'pubrel', messageId: 2 })).toEqual({ cmd: 'publish', messageId: 2, qos: 2 });
    // A new connection of the same client id (a persistent session) starts from what is held.
    await expect(p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: 4, payload: Buffer.alloc(1) })).rejects.toBeInstanceOf(InflightLimitError);
    expect(refused[0]).toContain('MQTT_MAX_INFLIGHT_QOS2');
    // The same id again (a DUP) is no new message; another client id has its own allowance.
    await p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: 3, payload: Buffer.alloc(100) });
    await p.incomingStorePacket(client('t-2'), { cmd: 'publish', messageId: 1, payload: Buffer.alloc(1) });
    expect(p.inflightQos2).toBe(4);
    // PUBREL frees one place.
    await p.incomingDelPacket(client('t-1'), { cmd: 'pubrel', messageId: 1 });
    await p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: 4, payload: Buffer.alloc(1) });
    await expect(p.incomingGetPacket(client('t-1'), { cmd: 'pubrel', messageId: 1 })).rejects.toThrow('no such packet');
  });

  it('refuses past MQTT_MAX_INFLIGHT_QOS2_BYTES, and forgets a client id with a clean session', async () => {
    const { p } = await persistence({ maxInflightQos2: 100 });
    await p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: 1, payload: Buffer.alloc(900) });
    await expect(p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: 2, payload: Buffer.alloc(101) })).rejects.toThrow(/MQTT_MAX_INFLIGHT_QOS2_BYTES/);
    await p.cleanIncoming(client('t-1', true));
    expect(p.inflightQos2).toBe(0);
    await p.incomingStorePacket(client('t-1'), { cmd: 'publish', messageId: 2, payload: Buffer.alloc(1000) });
  });
});

describe('persistent sessions’ queues', () => {
  it('drop the oldest beyond MQTT_MAX_QUEUED_MESSAGES, counted, and hand back the newest in order', async () => {
    const dropped: number[] = [];
    const { p } = await persistence({ maxQueuedBytes: 0 }, { onQueueDropped: (_id, n) => dropped.push(n) });
    const sent = Array.from({ length: 7 }, () => publish(10));
    for (const m of sent) await p.outgoingEnqueueCombi([{ clientId: 'obs' }], m);
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(3);
    expect((await drain(p.outgoingStream(client('obs')))).map((m) => m.brokerCounter)).toEqual(sent.slice(3).map((m) => m.brokerCounter));
    expect(p.queued).toEqual({ messages: 4, bytes: 4 * cost(10) });
  });

  it('drop the oldest beyond MQTT_MAX_QUEUED_BYTES, and the largest queue’s beyond MQTT_MAX_QUEUED_BYTES_TOTAL', async () => {
    const { p } = await persistence({ maxQueuedMessages: 0, maxQueuedBytes: 3 * cost(100), maxQueuedBytesTotal: 4 * cost(100) });
    for (let i = 0; i < 4; i++) await p.outgoingEnqueue({ clientId: 'a' }, publish(100));
    expect(p.queued).toEqual({ messages: 3, bytes: 3 * cost(100) });
    await p.outgoingEnqueue({ clientId: 'b' }, publish(100));
    await p.outgoingEnqueue({ clientId: 'b' }, publish(100));
    // 5 > 4 messages' worth: a (3) is the largest and loses its oldest.
    expect(p.queued).toEqual({ messages: 4, bytes: 4 * cost(100) });
    expect(await drain(p.outgoingStream(client('a')))).toHaveLength(2);
    expect(await drain(p.outgoingStream(client('b')))).toHaveLength(2);
  });

  it('hold MQTT_MAX_QUEUED_BYTES_TOTAL for one message to many sessions once it is in every queue: the largest lose their oldest, each keeps the newest', async () => {
    const dropped: string[] = [];
    const { p } = await persistence({ maxQueuedMessages: 0, maxQueuedBytes: 0, maxQueuedBytesTotal: 5 * cost(100) }, { onQueueDropped: (id) => void dropped.push(id) });
    for (let i = 0; i < 3; i++) await p.outgoingEnqueue({ clientId: 'a' }, publish(100));
    await p.outgoingEnqueue({ clientId: 'b' }, publish(100));
    const last = publish(100);
    // 4 queued + 3 = 7 > 5: a (4) loses one, then the largest of a, b, c (2 each) loses one.
    await p.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }, { clientId: 'c' }], last);
    expect(p.queued).toEqual({ messages: 5, bytes: 5 * cost(100) });
    expect(dropped[0]).toBe('a');
    expect(dropped).toHaveLength(2);
    for (const id of ['a', 'b', 'c']) expect((await drain(p.outgoingStream(client(id)))).at(-1)?.brokerCounter).toBe(last.brokerCounter);
  });

  it('count each message as its payload, its topic and what keeping it costs, so many tiny messages cannot pass MQTT_MAX_QUEUED_BYTES_TOTAL', async () => {
    // 20 sessions away × 100 one-byte messages: 2,000 payload bytes, but each kept message costs hundreds of bytes of memory.
    const { p } = await persistence({ maxQueuedMessages: 1000, maxQueuedBytes: 0, maxQueuedBytesTotal: 100_000 });
    const sessions = Array.from({ length: 20 }, (_, i) => ({ clientId: `aw${i}` }));
    for (let i = 0; i < 100; i++) await p.outgoingEnqueueCombi(sessions, publish(1));
    const topicBytes = Buffer.byteLength(publish(0).topic);
    // At least 256 bytes a message besides payload and topic (measured: ~275 while running, ~300 restored from a snapshot).
    expect(p.queued.messages).toBeLessThanOrEqual(Math.floor(100_000 / (1 + topicBytes + 256)));
    expect(p.queued.bytes).toBeLessThanOrEqual(100_000);
    expect(p.queued.bytes).toBeGreaterThanOrEqual(p.queued.messages * (1 + topicBytes + 256));
  });

  it('clear a delivered message by its message id, and a skipped one by its broker stamp, without scanning', async () => {
    const { p } = await persistence();
    const [m1, m2] = [publish(10), publish(10)];
    await p.outgoingEnqueue({ clientId: 'obs' }, m1);
    await p.outgoingEnqueue({ clientId: 'obs' }, m2);
    // Delivered: Aedes gives the delivery a message id, then the PUBACK clears it.
    await p.outgoingUpdate(client('obs'), { ...m1, messageId: 17 });
    expect((await p.outgoingClearMessageId(client('obs'), { cmd: 'puback', messageId: 17 }))?.brokerCounter).toBe(m1.brokerCounter);
    // Skipped by the gateway (authorizeForward said no): cleared by its stamp, not the oldest without an id.
    expect((await p.outgoingClearMessageId(client('obs'), { ...m2, messageId: undefined }))?.brokerCounter).toBe(m2.brokerCounter);
    expect(p.queued).toEqual({ messages: 0, bytes: 0 });
    // An update for a message dropped meanwhile is no error (Aedes would disconnect the client).
    await expect(p.outgoingUpdate(client('obs'), { ...publish(1), messageId: 3 })).resolves.toBeUndefined();
  });
});

describe('sessions', () => {
  it('expire after MQTT_SESSION_EXPIRY_S away: subscriptions, queue and unreleased QoS 2 go', async () => {
    let now = 0;
    const expired: string[] = [];
    const { p, broker } = await persistence({}, { now: () => now, onSessionExpired: (id) => expired.push(id) });
    const away = client('obs');
    await p.addSubscriptions(away, [{ topic: 'sensors/#', qos: 1 }]);
    await p.outgoingEnqueue({ clientId: 'obs' }, publish(10));
    await p.incomingStorePacket(away, { cmd: 'publish', messageId: 1, payload: Buffer.alloc(1) });
    broker.emit('clientDisconnect', away);
    now = 59_999;
    expect(await p.expire()).toBe(0);
    now = 60_000;
    expect(await p.expire()).toBe(1);
    expect(expired).toEqual(['obs']);
    expect(await p.subscriptionsByClient(away)).toEqual([]);
    expect(p.queued.messages).toBe(0);
    expect(p.inflightQos2).toBe(0);
  });

  it('beyond MQTT_MAX_AWAY_SESSIONS away, the one away longest goes at once (a client that came back keeps its own)', async () => {
    const evicted: string[] = [];
    const { p, broker } = await persistence({ maxAwaySessions: 2 }, { onSessionEvicted: (id) => evicted.push(id) });
    for (const id of ['s1', 's2', 's3']) {
      await p.addSubscriptions(client(id), [{ topic: 'sensors/#', qos: 1 }]);
      await p.outgoingEnqueue({ clientId: id }, publish(10));
    }
    broker.emit('clientDisconnect', client('s1'));
    broker.emit('clientDisconnect', client('s2'));
    // s1 comes back (and leaves again later): it is no longer the one away longest.
    broker.emit('client', client('s1'));
    broker.emit('clientDisconnect', client('s3'));
    broker.emit('clientDisconnect', client('s1'));
    await new Promise((r) => setImmediate(r));
    expect(evicted).toEqual(['s2']);
    expect(await p.subscriptionsByClient(client('s2'))).toEqual([]);
    expect(await p.subscriptionsByClient(client('s1'))).toEqual([{ topic: 'sensors/#', qos: 1 }]);
    expect(p.queued.messages).toBe(2);
    // A clean session leaving keeps nothing, and counts toward nothing.
    broker.emit('clientDisconnect', client('c1', true));
    await new Promise((r) => setImmediate(r));
    expect(evicted).toEqual(['s2']);
  });

  it('beyond MQTT_MAX_AWAY_SUBSCRIPTIONS filters held by the sessions away, the one away longest goes (a client back holds none of them)', async () => {
    const evicted: [string, string, number | undefined][] = [];
    const { p, broker } = await persistence({ maxAwaySubscriptions: 5 }, { onSessionEvicted: (id, reason, filters) => evicted.push([id, reason, filters]) });
    const filters = (n: number) => Array.from({ length: n }, (_, i) => ({ topic: `commands/hq/f${i}/#`, qos: 1 as const }));
    const settle = () => new Promise((r) => setImmediate(r));
    for (const [id, n] of [['s1', 3], ['s2', 2], ['s3', 2], ['s4', 4]] as const) await p.addSubscriptions(client(id), filters(n));
    broker.emit('clientDisconnect', client('s1'));
    broker.emit('clientDisconnect', client('s2'));
    await settle();
    expect(evicted).toEqual([]);
    // s2 comes back: its 2 filters no longer count, so s3's fit.
    broker.emit('client', client('s2'));
    broker.emit('clientDisconnect', client('s3'));
    await settle();
    expect(evicted).toEqual([]);
    // s4's 4 filters: 3 + 2 + 4 = 9 held, 5 allowed: s1 goes (away longest), then 6 is still over: s3 goes.
    broker.emit('clientDisconnect', client('s4'));
    await settle();
    await settle();
    expect(evicted).toEqual([
      ['s1', 'away_subscriptions', 3],
      ['s3', 'away_subscriptions', 2],
    ]);
    expect(await p.subscriptionsByClient(client('s1'))).toEqual([]);
    expect(await p.subscriptionsByClient(client('s4'))).toHaveLength(4);
    expect(await p.subscriptionsByClient(client('s2'))).toHaveLength(2);
  });

  it('keep a session whose store refused to remove it (Redis away) and end it at a later sweep, with nothing thrown', async () => {
    let now = 0;
    const expired: string[] = [];
    const broker = Object.assign(new EventEmitter(), { id: 'b', clients: {} });
    const p = new BoundedPersistence({ ...LIMITS }, { now: () => now, onSessionExpired: (id) => expired.push(id) });
    await p.setup(broker as unknown as Aedes);
    const store = (p as unknown as { store: { cleanSubscriptions(c: { id: string }): Promise<void> } }).store;
    const clean = store.cleanSubscriptions.bind(store);
    let refuse = true;
    store.cleanSubscriptions = (c) => (refuse ? Promise.reject(new Error('Redis is away')) : clean(c));
    await p.addSubscriptions(client('obs'), [{ topic: 'sensors/#', qos: 1 }]);
    broker.emit('clientDisconnect', client('obs'));
    now = 60_000;
    expect(await p.expire()).toBe(0);
    refuse = false;
    expect(await p.expire()).toBe(1);
    expect(expired).toEqual(['obs']);
    expect(await p.subscriptionsByClient(client('obs'))).toEqual([]);
  });

  it('store only the filters the gateway granted, once each, whatever Aedes hands over', async () => {
    const granted: Subscription[] = [{ topic: 'commands/hq/f1/#', qos: 1 }];
    const { p } = await persistence({}, { takeGranted: () => granted.splice(0) });
    const c = client('t-a');
    const packet = [granted[0]!, { topic: 'sensors/#', qos: 1 } as Subscription];
    // Aedes 1.2 calls this once per granted filter with every filter of the SUBSCRIBE.
    await p.addSubscriptions(c, packet);
    await p.addSubscriptions(c, packet);
    expect((await p.subscriptionsByClient(c)).map((s) => s.topic)).toEqual(['commands/hq/f1/#']);
    expect((await p.subscriptionsByTopic('sensors/hq/f2/t-b/temperature')).length).toBe(0);
  });
});

describe('the Aedes this relies on', () => {
  it('is aedes 1.2.0 with aedes-persistence 11.0.0 (pinned): an upgrade must re-check persistence.ts and delivery.ts', () => {
    const version = (name: string): string => (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    expect(version('aedes')).toBe('1.2.0');
    expect(version('aedes-persistence')).toBe('11.0.0');
  });
});
