import { appendFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Journal, type Batch } from '../../../gateway/storage/journal.js';
import { useTempDirs } from '../../helpers/temp-dirs.js';

const log = pino({ level: 'silent' });
const tempDir = useTempDirs('gw-journal-');

const point = (i: number): string => `m,t=a v=${i} ${i}\n`;
const text = (b: Batch | undefined): string => (b ? Buffer.concat(b.bodies).toString() : '');

async function drain(j: Journal, max = 1000): Promise<string> {
  let out = '';
  for (let b = await j.take(max); b; b = await j.take(max)) {
    out += text(b);
    j.confirm(b);
  }
  return out;
}

describe('Journal (the spool)', () => {
  it('commits a group of appends with one write and hands them over in order', async () => {
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 20, log });
    await j.open();
    for (let i = 0; i < 100; i++) expect(j.append(point(i))).toBe(true);
    await j.committed();
    expect(j.stats().commits).toBe(1);
    expect(j.stats().events).toBe(100);
    const batch = await j.take(1000);
    expect(batch?.count).toBe(100);
    expect(text(batch)).toBe(Array.from({ length: 100 }, (_, i) => point(i)).join(''));
    j.confirm(batch!);
    expect(j.stats().events).toBe(0);
    await j.close();
  });

  it('refuses appends once closing starts: what it accepted is written, nothing waits on a write that will not come', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 20, log });
    await j.open();
    expect(j.append(point(1))).toBe(true);
    const first = j.committed();
    const closing = j.close();
    expect(j.append(point(2)), 'an append while the spool closes').toBe(false);
    expect(j.isOpen).toBe(false);
    await first;
    await closing;
    const again = new Journal({ dir, maxBytes: 1 << 20, log });
    await again.open();
    expect(await drain(again)).toBe(point(1));
    await again.close();
  });

  it('replays what was not confirmed after a restart, and nothing that was', async () => {
    const dir = await tempDir();
    const first = new Journal({ dir, maxBytes: 1 << 20, log });
    await first.open();
    for (let i = 0; i < 10; i++) first.append(point(i));
    await first.committed();
    const b = await first.take(5);
    expect(b?.count).toBe(10); // one record: never split
    first.confirm(b!);
    for (let i = 10; i < 15; i++) first.append(point(i));
    await first.close();

    const second = new Journal({ dir, maxBytes: 1 << 20, log });
    await second.open();
    expect(second.stats()).toMatchObject({ events: 5, readingFromDisk: true });
    expect(await drain(second)).toBe(Array.from({ length: 5 }, (_, i) => point(i + 10)).join(''));
    await second.close();
  });

  it('cuts off a torn record left by a crash mid-write and keeps what came before', async () => {
    const dir = await tempDir();
    const first = new Journal({ dir, maxBytes: 1 << 20, log });
    await first.open();
    first.append(point(1));
    first.append(point(2));
    await first.committed();
    await first.close();
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.log') && (f.startsWith('seg-')));
    // A header promising 1000 bytes, then 3 bytes: what a crash mid-write leaves.
    const torn = Buffer.alloc(23);
    torn.writeUInt32LE(1000, 0);
    await appendFile(join(dir, segment!), torn);

    const second = new Journal({ dir, maxBytes: 1 << 20, log });
    await second.open();
    expect(await drain(second)).toBe(point(1) + point(2));
    expect((await readdir(dir)).some((f) => f.includes('.damaged-'))).toBe(true);
    await second.close();
  });

  it('reads from disk once memory is exceeded, in order, then returns to memory', async () => {
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 30, memoryBytes: 2000, segmentBytes: 4096, log });
    await j.open();
    const expected: string[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) {
        const p = point(round * 20 + i);
        expected.push(p);
        j.append(p);
      }
      await j.committed();
    }
    expect(j.stats().readingFromDisk).toBe(true);
    expect(await drain(j, 64)).toBe(expected.join(''));
    expect(j.stats()).toMatchObject({ events: 0, bytes: 0, readingFromDisk: false });
    j.append(point(9999));
    await j.committed();
    expect(text(await j.take(10))).toBe(point(9999));
    await j.close();
  });

  it('frees whole segments once confirmed', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 30, segmentBytes: 1024, retainBytes: 0, log });
    await j.open();
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 10; i++) j.append(point(i));
      await j.committed();
    }
    expect((await readdir(dir)).filter((f) => f.startsWith('seg-')).length).toBeGreaterThan(5);
    await drain(j);
    await j.close();
    const left = (await readdir(dir)).filter((f) => f.startsWith('seg-'));
    expect(left.length).toBeLessThanOrEqual(1);
    const sizes = await Promise.all(left.map((f) => stat(join(dir, f)).then((s) => s.size)));
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(1024 + 200);
  });

  it('refuses appends when full and lets waiters in once the consumer confirms', async () => {
    const j = new Journal({ dir: await tempDir(), maxBytes: 500, log });
    await j.open();
    let accepted = 0;
    while (j.append(point(accepted))) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(j.isFull()).toBe(true);
    expect(j.append(point(1), true)).toBe(true); // forced (commands) still goes in
    await j.committed();
    // The waiter is let in by the confirm that makes room and not before it: a waiter let in
    // at once would be recorded ahead of the confirm, since taking the batch takes a turn.
    const order: string[] = [];
    const waiting = j.whenSpace().then(() => order.push('room'));
    const batch = await j.take(1000);
    order.push('confirm');
    j.confirm(batch!);
    await waiting;
    expect(order).toEqual(['confirm', 'room']);
    expect(j.isFull()).toBe(false);
    expect(await drain(j)).toBe('');
    await j.close();
  });
});

describe('Journal: what InfluxDB holds, kept a little for the next start', () => {
  it('keeps the newest confirmed segments (up to retainBytes) and hands their records to the next open, before the unconfirmed ones', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 30, segmentBytes: 1024, retainBytes: 4096, log });
    await j.open();
    for (let i = 0; i < 200; i++) {
      j.append(point(i));
      if (i % 10 === 9) await j.committed();
    }
    await drain(j);
    j.append(point(1000));
    await j.committed();
    await j.close();
    const onDisk = (await readdir(dir)).filter((f) => f.startsWith('seg-'));
    const bytes = (await Promise.all(onDisk.map((f) => stat(join(dir, f)).then((s) => s.size)))).reduce((a, b) => a + b, 0);
    expect(bytes).toBeLessThanOrEqual(4096 + 1024);

    const seen: string[] = [];
    const again = new Journal({ dir, maxBytes: 1 << 30, segmentBytes: 1024, retainBytes: 4096, log });
    await again.open((body) => seen.push(...body.toString().split('\n').filter(Boolean)));
    // The newest confirmed records come back for recall, oldest first, then the one unconfirmed.
    const values = seen.map((l) => Number(/v=(\d+)/.exec(l)?.[1]));
    expect(values.at(-1)).toBe(1000);
    expect(values.slice(0, -1).length).toBeGreaterThan(10);
    expect(values.slice(0, -1)).toEqual([...values.slice(0, -1)].sort((a, b) => a - b));
    expect(values.at(-2)).toBe(199);
    // Only the unconfirmed one is handed to the consumer again.
    expect(text(await again.take(10_000))).toBe(point(1000));
    await again.close();
  });
});
