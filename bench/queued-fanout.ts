/**
 * One message fanned out to N persistent sessions away once their queues are at
 * MQTT_MAX_QUEUED_BYTES_TOTAL: how long the broker's thread is held (BoundedPersistence alone, no
 * sockets). Usage: `npx tsx bench/queued-fanout.ts [sessions=20000] [total bytes=67108864]`.
 */
import { EventEmitter } from 'node:events';
import type { Aedes } from 'aedes';
import { BoundedPersistence } from '../gateway/broker/persistence.js';

const sessions = Number(process.argv[2] ?? 20_000);
const total = Number(process.argv[3] ?? 64 * 1024 * 1024);
const p = new BoundedPersistence({ maxInflightQos2: 0, maxInflightQos2Bytes: 0, maxQueuedMessages: 1000, maxQueuedBytes: 4 * 1024 * 1024, maxQueuedBytesTotal: total, sessionExpiryMs: 0 }, {});
await p.setup(Object.assign(new EventEmitter(), { id: 'b', clients: {} }) as unknown as Aedes);
const subs = Array.from({ length: sessions }, (_, i) => ({ clientId: `away-${i}` }));
let counter = 0;
const publish = () => ({ cmd: 'publish' as const, topic: 'sensors/hq/f1/t1/temperature', payload: Buffer.from('{"value":21.5,"id":"x"}'), qos: 1 as const, retain: false, dup: false, brokerId: 'b', brokerCounter: ++counter });
// Fill to the total first (untimed).
while (p.queued.bytes < total * 0.99) await p.outgoingEnqueueCombi(subs, publish());
const times: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await p.outgoingEnqueueCombi(subs, publish());
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`${sessions} sessions away at ${(total / 1048576).toFixed(0)} MiB queued: one message fanned out holds the thread ${times[2]!.toFixed(1)} ms (median of 5; min ${times[0]!.toFixed(1)}, max ${times[4]!.toFixed(1)}); queued ${p.queued.messages} messages, ${(p.queued.bytes / 1048576).toFixed(1)} MiB`);
