/**
 * The InfluxDB sink when the spool misbehaves under it: a read error, and a record committed at
 * the moment the reader switches from disk back to memory. Real journal files, real InfluxDB.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Metrics } from '../../../gateway/observability/metrics.js';
import { Influx1Writer } from '../../../gateway/storage/influx1.js';
import { Journal } from '../../../gateway/storage/journal.js';
import { InfluxSink } from '../../../gateway/storage/sink.js';
import type { SpoolDisk } from '../../../gateway/storage/spool/disk.js';
import { count, uniqueDb } from '../../helpers/influx.js';
import { hookedDisk } from '../../helpers/spool-disk.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const point = (i: number): string => `m,t=a v=${i},event_id="e${i}" ${1_700_000_000_000 + i}\n`;

async function setup(batchSize: number, disk?: SpoolDisk) {
  const dir = await mkdtemp(join(tmpdir(), 'gw-sink-faults-'));
  const journal = new Journal({ dir, maxBytes: 1 << 30, memoryBytes: 200, log }, disk);
  await journal.open();
  const db = uniqueDb();
  const writer = new Influx1Writer(inject('influxUrl'), db, 5000);
  await writer.prepare();
  const metrics = new Metrics({ spool: () => journal.stats(), connectedClients: () => 0, influxUp: () => true, now: () => Date.now() });
  const sink = new InfluxSink({ journal, writer, metrics, log, batchSize, flushMs: 0, onRejected: () => undefined, retryBaseMs: 10 });
  cleanup.push(async () => {
    await sink.stop(100);
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { journal, sink, db };
}

async function fill(journal: Journal, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n += 5) {
    for (let i = n; i < Math.min(n + 5, to); i++) journal.append(point(i));
    await journal.committed();
  }
}

describe('the sink', () => {
  it('goes on after the spool fails to be read once, and says so meanwhile', async () => {
    let failed = 0;
    const disk = hookedDisk((call) => {
      if (call === 'openForReading' && failed++ === 0) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    });
    const { journal, sink, db } = await setup(1000, disk);
    await fill(journal, 0, 50);
    expect(journal.stats().readingFromDisk).toBe(true);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    cleanup.push(async () => void process.off('unhandledRejection', onUnhandled));
    await sink.start();
    await waitFor(async () => (await count(inject('influxUrl'), db, 'm')) === 50, 'all 50 points in InfluxDB');
    expect(failed).toBeGreaterThan(1);
    expect(sink.draining).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('writes a record committed while the reader goes back from disk to memory', async () => {
    let injected = false;
    // The reader closes its file when it has caught up with the spool and goes back to memory.
    const disk = hookedDisk(async (call) => {
      if (call === 'reading.close' && !injected) {
        injected = true;
        journal.append(point(999));
        await journal.committed();
      }
    });
    const { journal, sink, db } = await setup(50, disk);
    await fill(journal, 0, 50);
    expect(journal.stats().readingFromDisk).toBe(true);
    await sink.start();
    await waitFor(async () => (await count(inject('influxUrl'), db, 'm')) === 51, 'the 50 points and the one committed during the switch', 5000);
    expect(injected).toBe(true);
  });

  it('confirms every record of a batch that grew while InfluxDB was away, so the spool empties once it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-sink-grow-'));
    const journal = new Journal({ dir, maxBytes: 1 << 30, log });
    await journal.open();
    const db = uniqueDb();
    const real = new Influx1Writer(inject('influxUrl'), db, 5000);
    await real.prepare();
    let away = true;
    // InfluxDB away at first: the first batch fails, and its retries take along what arrives meanwhile.
    const writer: typeof real = Object.assign(Object.create(real) as typeof real, {
      write: (body: Buffer, precision: Parameters<typeof real.write>[1]) => (away ? Promise.reject(new Error('ECONNREFUSED')) : real.write(body, precision)),
    });
    const metrics = new Metrics({ spool: () => journal.stats(), connectedClients: () => 0, influxUp: () => true, now: () => Date.now() });
    const sink = new InfluxSink({ journal, writer, metrics, log, batchSize: 1000, flushMs: 0, onRejected: () => undefined, retryBaseMs: 10, retryMaxMs: 20 });
    cleanup.push(async () => {
      await sink.stop(100);
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    });
    await sink.start();
    await fill(journal, 0, 5);
    await waitFor(async () => ((await metrics.writeRetries.get()).values[0]?.value ?? 0) >= 1, 'a failed write');
    await fill(journal, 5, 300);
    away = false;
    await waitFor(async () => (await count(inject('influxUrl'), db, 'm')) === 300, 'every point in InfluxDB');
    await waitFor(() => journal.stats().events === 0, 'the spool to be empty');
    expect(journal.stats()).toMatchObject({ events: 0, bytes: 0 });
  });
});
