/**
 * How much the broker's snapshot (gateway/broker/file-persistence.ts, snapshot-schedule.ts) writes
 * under continuous QoS 1 traffic. A reviewer found every QoS 1 message to a clean=false session
 * (connected ones too) marked the state changed, so the whole state (up to the 16 MiB retained
 * budget plus every queue) was rewritten, with two fsyncs, every second: ~1.4 TB a day on flash.
 *
 * A fake clock runs ten minutes of traffic; the file write is counted, not made.
 */
import type { Aedes, Client } from 'aedes';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FilePersistence } from '../../../gateway/broker/file-persistence.js';
import { RetainedLedger } from '../../../gateway/broker/retained.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { testMetrics } from '../../helpers/ports.js';

const written = vi.hoisted(() => ({ writes: 0, bytes: 0 }));
vi.mock('../../../gateway/broker/snapshot-file.js', async (original) => ({
  ...(await original<typeof import('../../../gateway/broker/snapshot-file.js')>()),
  writeAtomically: (_file: string, batches: Iterable<Buffer[]>) => {
    let bytes = 0;
    for (const batch of batches) for (const b of batch) bytes += b.length;
    written.writes++;
    written.bytes += bytes;
    return Promise.resolve({ busyMs: 0, bytes });
  },
}));

/** The budget the README states next to MQTT_SNAPSHOT_INTERVAL_MS. */
const BUDGET = 256 * 1024;
const MINUTES = 10;
const STEP_MS = 100;
const client = (id: string): Client => ({ id, clean: false }) as unknown as Client;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  written.writes = 0;
  written.bytes = 0;
});
afterEach(() => vi.useRealTimers());

async function start() {
  const clients: Record<string, unknown> = {};
  const broker = Object.assign(new EventEmitter(), { id: 'b1', clients });
  const metrics = testMetrics(new ManualClock(0));
  const ledger = new RetainedLedger({ metrics, maxBytesPerClient: 0, maxBytes: 0 });
  const limits = { maxInflightQos2: 3, maxInflightQos2Bytes: 1000, maxQueuedMessages: 100, maxQueuedBytes: 0, maxQueuedBytesTotal: 0, sessionExpiryMs: 0 };
  const p = new FilePersistence(limits, {}, { file: '/nonexistent/mqtt-state.bin', intervalMs: 1000, ledger, metrics, log: pino({ level: 'silent' }) });
  await p.setup(broker as unknown as Aedes);
  // 2 MiB of retained messages: a state that is costly to write whole.
  for (let i = 0; i < 8; i++) {
    ledger.decide('dev', `devices/d${i}/blob`, 256 * 1024, true);
    await p.storeRetained({ cmd: 'publish', topic: `devices/d${i}/blob`, payload: Buffer.alloc(256 * 1024, i), qos: 1, retain: true, dup: false });
  }
  return { p, broker };
}

/** Ten minutes of one QoS 1 message every STEP_MS to `to`, each sent and acknowledged when `to` is connected. */
async function traffic(p: FilePersistence, to: string, connected: boolean): Promise<void> {
  let counter = 0;
  for (let t = 0; t < MINUTES * 60_000; t += STEP_MS) {
    const packet = { cmd: 'publish', topic: 'commands/lab3/k7/hvac', payload: Buffer.from('{"mode":"cool"}'), qos: 1, retain: false, dup: false, brokerId: 'b1', brokerCounter: ++counter };
    await p.outgoingEnqueueCombi([{ clientId: to }], packet);
    if (connected) {
      await p.outgoingUpdate(client(to), { ...packet, messageId: (counter % 60_000) + 1 });
      await p.outgoingClearMessageId(client(to), { ...packet, messageId: (counter % 60_000) + 1 });
    }
    await vi.advanceTimersByTimeAsync(STEP_MS);
  }
}

describe('the snapshot under continuous QoS 1 traffic', () => {
  it('writes the in-flight churn of a connected session at most once a minute', async () => {
    const { p, broker } = await start();
    await p.addSubscriptions(client('act-q7'), [{ topic: 'commands/lab3/k7/hvac', qos: 1 }]);
    broker.clients['act-q7'] = client('act-q7');
    await vi.advanceTimersByTimeAsync(STEP_MS);
    const before = written.writes;
    await traffic(p, 'act-q7', true);
    // Every second before: 6000 snapshots of 2 MiB in ten minutes.
    expect(written.writes - before).toBeLessThanOrEqual(MINUTES + 1);
    // Yet written every minute: a kill -9 loses at most a minute of it.
    expect(written.writes - before).toBeGreaterThanOrEqual(MINUTES - 1);
    expect(written.bytes / (MINUTES * 60)).toBeLessThanOrEqual(BUDGET);
  });

  it('writes a session away’s growing queue within the write budget', async () => {
    const { p, broker } = await start();
    await p.addSubscriptions(client('act-q7'), [{ topic: 'commands/lab3/k7/hvac', qos: 1 }]);
    broker.emit('clientDisconnect', client('act-q7'));
    await traffic(p, 'act-q7', false);
    expect(written.writes).toBeGreaterThan(MINUTES);
    // One snapshot's worth over: the first is written at once.
    const snapshotBytes = 3 * 1024 * 1024;
    expect(written.bytes).toBeLessThanOrEqual(BUDGET * MINUTES * 60 + snapshotBytes);
  });
});
