/**
 * What one message queued for a persistent session costs in memory besides its payload and topic
 * (QUEUED_MESSAGE_OVERHEAD in gateway/broker/session-queue.ts): 200 sessions away × 1,000
 * one-byte messages on 30-byte topics, heapUsed + arrayBuffers after gc, in the two shapes a
 * queue takes — while running (one publish shared by every session's entry) and as restored from
 * a snapshot (encoded and decoded by snapshot-file.ts: each entry its own topic, payload and strings).
 *
 *   node --expose-gc --import tsx bench/queued-message-cost.ts
 */
import { EventEmitter } from 'node:events';
import { crc32 } from 'node:zlib';
import type { Aedes } from 'aedes';
import { BoundedPersistence } from '../gateway/broker/persistence.js';
import { decode, encode } from '../gateway/broker/snapshot-file.js';
import type { Stored } from '../gateway/broker/session-queue.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const SESSIONS = 200;
const MESSAGES = 1000;
/** After gc, with time for the freed buffers' memory to be returned (it is, off the main thread). */
const heap = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

async function unbounded(): Promise<BoundedPersistence> {
  const p = new BoundedPersistence({ maxInflightQos2: 0, maxInflightQos2Bytes: 0, maxQueuedMessages: 0, maxQueuedBytes: 0, maxQueuedBytesTotal: 0, sessionExpiryMs: 0 });
  await p.setup(Object.assign(new EventEmitter(), { id: 'b', clients: {} }) as unknown as Aedes);
  return p;
}

const ids = Array.from({ length: SESSIONS }, (_, i) => ({ clientId: `aw${i}` }));
const topic = (m: number): string => `sensors/hq/f1/d${String(m).padStart(4, '0')}/temperature`;
const brokerId = '0b9c3a1e-7d2f-4c55-9a8e-3f2e1d0c9b8a';
const n = SESSIONS * MESSAGES;
const topicBytes = Buffer.byteLength(topic(0));

let before = (await heap());
const live = await unbounded();
for (let m = 0; m < MESSAGES; m++) await live.outgoingEnqueueCombi(ids, { cmd: 'publish', topic: topic(m), payload: Buffer.from('1'), qos: 1, retain: false, dup: false, brokerId, brokerCounter: m + 1 });
const liveBytes = ((await heap()) - before) / n;

// The same queues through a snapshot and back, as a restart restores them.
const sessions = ids.map(({ clientId }) => ({ id: clientId, since: 0, subs: [], queued: [...(live as unknown as { outgoing: Map<string, { entries: Map<number, { packet: Stored }> }> }).outgoing.get(clientId)!.entries.values()].map((e) => e.packet) }));
const body = Buffer.concat([...encode({ retained: [], sessions, wills: [] })].flat());
const crc = Buffer.alloc(4);
crc.writeUInt32LE(crc32(body) >>> 0);
const file = Buffer.concat([body, crc]);
sessions.length = 0;
await live.destroy();
(live as unknown as { outgoing: Map<string, unknown> }).outgoing.clear();
before = (await heap());
let decoded: ReturnType<typeof decode> | undefined = decode(file);
const restored = await unbounded();
for (const s of decoded.sessions) for (const p of s.queued) await restored.outgoingEnqueue({ clientId: s.id }, p);
decoded = undefined;
const restoredBytes = ((await heap()) - before) / n;

console.log(JSON.stringify({ entries: n, payloadBytes: 1, topicBytes, liveBytesPerMessage: Math.round(liveBytes), restoredBytesPerMessage: Math.round(restoredBytes), overheadRestored: Math.round(restoredBytes - 1 - topicBytes), snapshotBytesPerMessage: Math.round(file.length / n), kept: restored.queued.messages }));
