/**
 * The single gateway's broker state kept across restarts (gateway/broker/file-persistence.ts,
 * snapshot-file.ts), with a real file and fake clients: what a snapshot brings back, within the
 * limits in force at the start that reads it, and a damaged file refused as a whole.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Aedes, Client, PublishPacket } from 'aedes';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FilePersistence } from '../../../gateway/broker/file-persistence.js';
import { readSnapshot } from '../../../gateway/broker/snapshot-file.js';
import type { PersistenceLimits } from '../../../gateway/broker/persistence.js';
import { RetainedLedger } from '../../../gateway/broker/retained.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { count, testMetrics } from '../../helpers/ports.js';
import { useTempDirs } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

const tempDir = useTempDirs('gw-snapshot-');
const LIMITS: PersistenceLimits = { maxInflightQos2: 3, maxInflightQos2Bytes: 1000, maxQueuedMessages: 10, maxQueuedBytes: 0, maxQueuedBytesTotal: 0, sessionExpiryMs: 0 };
const client = (id: string, clean = false): Client => ({ id, clean }) as unknown as Client;
let counter = 0;
const publish = (payload: Buffer | string, topic = 'commands/lab3/k7/hvac') => ({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false, brokerId: 'old', brokerCounter: ++counter });

async function start(dir: string, o: { limits?: Partial<PersistenceLimits>; retainedBytes?: number; brokerId?: string; intervalMs?: number } = {}) {
  const broker = Object.assign(new EventEmitter(), { id: o.brokerId ?? 'b1', clients: {} });
  const metrics = testMetrics(new ManualClock(0));
  const ledger = new RetainedLedger({ metrics, maxBytesPerClient: 0, maxBytes: o.retainedBytes ?? 0 });
  const file = join(dir, 'mqtt-state.bin');
  const p = new FilePersistence({ ...LIMITS, ...o.limits }, {}, { file, intervalMs: o.intervalMs ?? 60_000, ledger, metrics, log: pino({ level: 'silent' }) });
  await p.setup(broker as unknown as Aedes);
  return { p, broker, ledger, metrics, file };
}

async function drain<T>(stream: NodeJS.ReadableStream): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x as T);
  return out;
}

const retain = (ledger: RetainedLedger, p: FilePersistence, topic: string, payload: string, owner = 'dev') => {
  ledger.decide(owner, topic, Buffer.byteLength(payload), true);
  return p.storeRetained({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false });
};

describe('the broker state across a restart', () => {
  it('brings back retained messages, a persistent session (subscriptions, queue in order, when it left) and wills', async () => {
    const dir = await tempDir();
    const first = await start(dir, { brokerId: 'old' });
    await retain(first.ledger, first.p, 'devices/ghost1/status', 'offline');
    await retain(first.ledger, first.p, 'tele/plug1/LWT', 'Offline');
    await retain(first.ledger, first.p, 'zigbee2mqtt/bridge/state', 'online');
    // An empty payload deletes.
    await retain(first.ledger, first.p, 'zigbee2mqtt/bridge/state', '');
    await first.p.addSubscriptions(client('act-q7'), [{ topic: 'commands/lab3/k7/hvac', qos: 1 }]);
    await first.p.outgoingEnqueue({ clientId: 'act-q7' }, publish(Buffer.from('{"mode":"cool"}')));
    const off = publish('{"mode":"off"}');
    await first.p.outgoingEnqueue({ clientId: 'act-q7' }, off);
    // The second had been sent (message id 7) and answered PUBREC: its PUBREL replaced it.
    await first.p.outgoingUpdate(client('act-q7'), { ...off, messageId: 7 });
    await first.p.outgoingUpdate(client('act-q7'), { cmd: 'pubrel', messageId: 7 });
    first.broker.emit('clientDisconnect', client('act-q7'));
    await first.p.putWill(client('plug1'), { cmd: 'publish', topic: 'tele/plug1/LWT', payload: Buffer.from('Offline'), qos: 1, retain: true, dup: false });
    await first.p.close();

    const second = await start(dir, { brokerId: 'new' });
    const retained = await drain<PublishPacket>(second.p.createRetainedStream('#'));
    expect(retained.map((r) => [r.topic, r.payload.toString()]).sort()).toEqual([['devices/ghost1/status', 'offline'], ['tele/plug1/LWT', 'Offline']]);
    // Booked again against the budget, to the same owner.
    expect(second.ledger.ownerOf('devices/ghost1/status')).toBe('dev');
    expect(second.ledger.bytes).toBe(first.ledger.bytes);
    expect(await second.p.subscriptionsByClient(client('act-q7'))).toEqual([{ topic: 'commands/lab3/k7/hvac', qos: 1 }]);
    const queued = await drain<{ cmd: string; payload?: Buffer | string; messageId?: number; brokerCounter?: number }>(second.p.outgoingStream(client('act-q7')));
    expect(queued.map((q) => [q.cmd, q.payload?.toString(), q.messageId])).toEqual([
      ['publish', '{"mode":"cool"}', undefined],
      ['pubrel', undefined, 7],
    ]);
    expect(second.p.queued.messages).toBe(2);
    // The will is the gone broker's: Aedes' check for dead brokers publishes it unless plug1 comes back.
    expect(await drain<PublishPacket & { brokerId: string }>(second.p.streamWill({ new: Date.now() }))).toMatchObject([{ topic: 'tele/plug1/LWT', brokerId: 'old' }]);
    expect(await count(second.metrics, 'gateway_mqtt_snapshot_unreadable_total')).toBe(0);
  });

  it('keeps within the limits in force at the start that reads it', async () => {
    const dir = await tempDir();
    const first = await start(dir);
    for (const id of ['s-1', 's-2', 's-3']) {
      await first.p.addSubscriptions(client(id), [{ topic: `commands/${id}/#`, qos: 1 }]);
      first.broker.emit('clientDisconnect', client(id));
    }
    for (let i = 0; i < 5; i++) await first.p.outgoingEnqueue({ clientId: 's-3' }, publish(`m${i}`));
    await retain(first.ledger, first.p, 'devices/a/status', 'offline');
    await retain(first.ledger, first.p, 'devices/b/status', 'offline');
    await first.p.close();

    const cost = Buffer.byteLength('devices/a/status') + 'offline'.length + 128;
    const second = await start(dir, { limits: { maxAwaySessions: 2, maxQueuedMessages: 2 }, retainedBytes: cost + 10 });
    // s-1 left first: it is the one over MQTT_MAX_AWAY_SESSIONS.
    expect(await second.p.subscriptionsByClient(client('s-1'))).toEqual([]);
    expect(await second.p.subscriptionsByClient(client('s-2'))).toHaveLength(1);
    expect((await drain<{ payload: Buffer }>(second.p.outgoingStream(client('s-3')))).map((q) => q.payload.toString())).toEqual(['m3', 'm4']);
    expect((await drain(second.p.createRetainedStream('#'))).length).toBe(1);
    expect(second.ledger.bytes).toBe(cost);
  });

  it('brings back the sessions away within MQTT_MAX_AWAY_SUBSCRIPTIONS, the newest first, and goes on counting their filters', async () => {
    const dir = await tempDir();
    const first = await start(dir);
    const filters = (id: string, n: number) => Array.from({ length: n }, (_, i) => ({ topic: `commands/${id}/f${i}/#`, qos: 1 as const }));
    for (const [id, n] of [['s-1', 3], ['s-2', 2], ['s-3', 2]] as const) {
      await first.p.addSubscriptions(client(id), filters(id, n));
      first.broker.emit('clientDisconnect', client(id));
    }
    await first.p.close();

    const evicted: string[] = [];
    const broker = Object.assign(new EventEmitter(), { id: 'b2', clients: {} });
    const metrics = testMetrics(new ManualClock(0));
    const ledger = new RetainedLedger({ metrics, maxBytesPerClient: 0, maxBytes: 0 });
    const second = new FilePersistence({ ...LIMITS, maxAwaySubscriptions: 4 }, { onSessionEvicted: (id) => evicted.push(id) }, { file: first.file, intervalMs: 60_000, ledger, metrics, log: pino({ level: 'silent' }) });
    await second.setup(broker as unknown as Aedes);
    // 3 + 2 + 2 filters, 4 allowed: s-1 (away longest) is not brought back.
    expect(await second.subscriptionsByClient(client('s-1'))).toEqual([]);
    expect(await second.subscriptionsByClient(client('s-2'))).toHaveLength(2);
    expect(await second.subscriptionsByClient(client('s-3'))).toHaveLength(2);
    // Their 4 filters still count: one more session away with a filter, and s-2 goes.
    await second.addSubscriptions(client('s-4'), filters('s-4', 1));
    broker.emit('clientDisconnect', client('s-4'));
    await waitFor(() => evicted.length > 0, 's-2 evicted');
    expect(evicted).toEqual(['s-2']);
    await second.close();
  });

  it('forgets an evicted session, its will included, in the next snapshot (a kill -9 after does not bring it back)', async () => {
    const dir = await tempDir();
    const first = await start(dir, { brokerId: 'old' });
    for (const id of ['s-1', 's-2']) {
      await first.p.addSubscriptions(client(id), [{ topic: `commands/${id}/#`, qos: 1 }]);
      await first.p.outgoingEnqueue({ clientId: id }, publish(`for ${id}`));
      first.broker.emit('clientDisconnect', client(id));
    }
    // A will of the gone broker, restored with its session: published unless s-1 comes back.
    await first.p.putWill(client('s-1'), { cmd: 'publish', topic: 'devices/s-1/status', payload: Buffer.from('offline'), qos: 1, retain: true, dup: false });
    await first.p.close();

    const evicted: string[] = [];
    const broker = Object.assign(new EventEmitter(), { id: 'new', clients: {} });
    const metrics = testMetrics(new ManualClock(0));
    const ledger = new RetainedLedger({ metrics, maxBytesPerClient: 0, maxBytes: 0 });
    const second = new FilePersistence({ ...LIMITS, maxAwaySessions: 2 }, { onSessionEvicted: (id) => evicted.push(id) }, { file: first.file, intervalMs: 20, ledger, metrics, log: pino({ level: 'silent' }) });
    await second.setup(broker as unknown as Aedes);
    // A third session away: s-1, away longest, is evicted.
    await second.addSubscriptions(client('s-3'), [{ topic: 'commands/s-3/#', qos: 1 }]);
    broker.emit('clientDisconnect', client('s-3'));
    await waitFor(() => evicted.length > 0, 's-1 evicted');
    expect(evicted).toEqual(['s-1']);
    // No close (a kill -9): what the timer wrote is what the next start reads.
    const sessionsOnFile = async () => (await readSnapshot(first.file, Date.now())).snapshot;
    await waitFor(async () => {
      const s = await sessionsOnFile();
      return s && s.sessions.some((x) => x.id === 's-3') && !s.sessions.some((x) => x.id === 's-1') && s.wills.length === 0;
    }, 'a snapshot without s-1 nor its will', 2000);

    const third = await start(dir);
    expect(await third.p.subscriptionsByClient(client('s-1'))).toEqual([]);
    expect(await drain(third.p.outgoingStream(client('s-1')))).toEqual([]);
    expect(await drain(third.p.streamWill({}))).toEqual([]);
    expect(await third.p.subscriptionsByClient(client('s-2'))).toHaveLength(1);
  });

  it('writes a change on its own, after the interval, atomically', async () => {
    const dir = await tempDir();
    const { p, ledger, metrics, file } = await start(dir, { intervalMs: 20 });
    await retain(ledger, p, 'devices/a/status', 'online');
    await waitFor(async () => (await count(metrics, 'gateway_mqtt_snapshot_items', { item: 'retained' })) === 1, 'the snapshot to hold the retained message');
    expect((await stat(file)).size).toBeGreaterThan(0);
    expect((await readdir(dir)).sort()).toEqual(['mqtt-state.bin']);
    await p.close();
  });

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 9)],
    ['with a flipped byte', (b: Buffer) => Buffer.concat([b.subarray(0, 20), Buffer.from([b[20]! ^ 0xff]), b.subarray(21)])],
    ['empty', () => Buffer.alloc(0)],
  ])('refuses a snapshot %s as a whole: moved aside, counted, an empty broker', async (_name, damage) => {
    const dir = await tempDir();
    const first = await start(dir);
    await first.p.addSubscriptions(client('act-q7'), [{ topic: 'commands/#', qos: 1 }]);
    await first.p.outgoingEnqueue({ clientId: 'act-q7' }, publish('x'));
    await first.p.close();
    await writeFile(first.file, damage(await readFile(first.file)));

    const second = await start(dir);
    expect(await count(second.metrics, 'gateway_mqtt_snapshot_unreadable_total')).toBe(1);
    expect(await second.p.subscriptionsByClient(client('act-q7'))).toEqual([]);
    expect(second.p.queued.messages).toBe(0);
    expect((await readdir(dir)).filter((f) => f.startsWith('mqtt-state.bin.damaged-'))).toHaveLength(1);
    // The next snapshot is written as usual.
    await second.p.close();
    expect(await count((await start(dir)).metrics, 'gateway_mqtt_snapshot_unreadable_total')).toBe(0);
  });
});
