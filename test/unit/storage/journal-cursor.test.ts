import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Journal, type Batch, type JournalCursor } from '../../../gateway/storage/journal.js';
import { nodeDisk, type SpoolDisk } from '../../../gateway/storage/spool/disk.js';
import type { Position } from '../../../gateway/storage/spool/position.js';
import { useTempDirs } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
const tempDir = useTempDirs('gw-journal-cursor-');

const point = (i: number): string => `m,t=a v=${i} ${i}\n`;
const text = (b: Batch | undefined): string => (b ? Buffer.concat(b.bodies).toString() : '');
const segments = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((f) => f.startsWith('seg-')).sort();

/** Takes and confirms everything `c` has: what it read, and where it ended (its checkpoint once written). */
async function drainTo(c: Pick<JournalCursor, 'take' | 'confirm'>, max = 1000): Promise<{ read: string; end: Position | undefined }> {
  let read = '';
  let end: Position | undefined;
  for (let b = await c.take(max); b; b = await c.take(max)) {
    read += text(b);
    end = b.end;
    c.confirm(b);
  }
  return { read, end };
}
const drain = async (c: Pick<JournalCursor, 'take' | 'confirm'>, max = 1000): Promise<string> => (await drainTo(c, max)).read;

/**
 * Until the sink's checkpoint file holds `at`. The journal frees what lies behind a checkpoint
 * before it writes the file, so by then that release has run.
 */
async function sinkCheckpointWritten(dir: string, at: Position | undefined): Promise<void> {
  const written = async (): Promise<Position | undefined> => JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8').catch(() => 'null')) as Position | undefined;
  await waitFor(async () => {
    const p = await written();
    return p?.segment === at?.segment && p?.offset === at?.offset;
  }, `the sink's checkpoint written at ${JSON.stringify(at)}`);
}

async function fill(j: Journal, from: number, to: number): Promise<string> {
  let all = '';
  for (let i = from; i < to; i++) {
    j.append(point(i));
    all += point(i);
    // One record per point, so segments fill and rotate.
    await j.committed();
  }
  return all;
}

describe('Journal with a second consumer (the cluster forwarder)', () => {
  it('hands every record to both consumers in order, each at its own pace, and counts what each has not confirmed', async () => {
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 20, log, consumers: ['forward'] });
    await j.open();
    const forward = j.cursor('forward');
    const all = await fill(j, 0, 50);
    expect(forward.stats().events).toBe(50);
    expect(await drain(j)).toBe(all);
    expect(j.stats().events).toBe(0);
    expect(forward.stats().events).toBe(50);
    expect(await drain(forward)).toBe(all);
    expect(forward.stats()).toMatchObject({ events: 0, bytes: 0, oldestAppendedAt: undefined });
    await j.close();
  });

  it('keeps a segment until both the sink and the forwarder are past it', async () => {
    const dir = await tempDir();
    // retainBytes: 0, so that what both are past is deleted at once (retention: the next test).
    const j = new Journal({ dir, maxBytes: 1 << 20, segmentBytes: 200, retainBytes: 0, log, consumers: ['forward'] });
    await j.open();
    const forward = j.cursor('forward');
    await fill(j, 0, 40);
    const before = await segments(dir);
    expect(before.length).toBeGreaterThan(3);
    await drain(j);
    await j.close(); // persists the checkpoints (and releases behind both)
    expect(await segments(dir)).toEqual(before);

    const again = new Journal({ dir, maxBytes: 1 << 20, segmentBytes: 200, retainBytes: 0, log, consumers: ['forward'] });
    await again.open();
    // The sink had everything; the forwarder nothing: it is handed all 40 again, the sink none.
    expect(again.stats().events).toBe(0);
    expect(again.cursor('forward').stats().events).toBe(40);
    expect(await drain(again)).toBe('');
    const forwarded = await drain(again.cursor('forward'));
    expect(forwarded).toBe(Array.from({ length: 40 }, (_, i) => point(i)).join(''));
    await again.close();
    void forward;
    // Both are past the old segments now: only the ones the restart wrote (and the last) remain.
    const after = await segments(dir);
    expect(after.length).toBeLessThan(before.length);
    expect(after.every((s) => !before.slice(0, -1).includes(s))).toBe(true);
  });

  it('keeps for the next start (retention) only segments both are past; at open, hands their records to the recall alone and counts for each only what it has not confirmed', async () => {
    const values = (body: Buffer): number[] => body.toString().split('\n').filter(Boolean).map((l) => Number(/v=(\d+)/.exec(l)?.[1]));
    const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
    for (const retainBytes of [0, 400, 1 << 20]) {
      const dir = await tempDir();
      const options = { dir, maxBytes: 1 << 20, segmentBytes: 200, retainBytes, log, consumers: ['forward'] };
      // A large disk, whatever the one under the test is (a disk under 1 GiB retains nothing).
      const disk: SpoolDisk = { ...nodeDisk, space: async () => ({ free: 2 ** 40, size: 2 ** 40 }) };
      const j = new Journal(options, disk);
      await j.open();
      await fill(j, 0, 40);
      const written = await segments(dir);
      const sink = await drainTo(j);
      expect(sink.read).toBe(range(0, 40).map(point).join(''));
      // The sink is past everything, the forwarder past nothing: no segment is retained or deleted yet.
      await sinkCheckpointWritten(dir, sink.end);
      expect(await segments(dir)).toEqual(written);
      const forward = j.cursor('forward');
      for (let n = 0; n < 20; n++) forward.confirm((await forward.take(1))!);
      await j.close();
      // Segments wholly behind both: deleted, or retained within retainBytes (the newest).
      const left = await segments(dir);
      if (retainBytes === 1 << 20) expect(left).toEqual(written);
      else expect(left.length).toBeLessThan(written.length);

      const seen: number[] = [];
      const again = new Journal(options, disk);
      await again.open((body) => seen.push(...values(body)));
      // The recall sees retained records, then the rest, oldest first; always at least what the forwarder has not confirmed.
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen.slice(-20)).toEqual(range(20, 40));
      if (retainBytes === 1 << 20) expect(seen).toEqual(range(0, 40));
      // Neither consumer is handed what it confirmed: the sink nothing, the forwarder its last 20.
      expect(again.stats()).toMatchObject({ events: 0, bytes: 0 });
      expect(again.cursor('forward').stats().events).toBe(20);
      expect(await drain(again)).toBe('');
      expect(await drain(again.cursor('forward'))).toBe(range(20, 40).map(point).join(''));
      await again.close();
    }
  });

  it('resumes the forwarder from its own checkpoint after a restart, and the sink from its own', async () => {
    const dir = await tempDir();
    const first = new Journal({ dir, maxBytes: 1 << 20, log, consumers: ['forward'] });
    await first.open();
    await fill(first, 0, 10);
    // The forwarder confirms the first 6, the sink the first 3.
    for (let n = 0; n < 6; n++) first.cursor('forward').confirm((await first.cursor('forward').take(1))!);
    for (let n = 0; n < 3; n++) first.confirm((await first.take(1))!);
    await first.close();

    const second = new Journal({ dir, maxBytes: 1 << 20, log, consumers: ['forward'] });
    await second.open();
    expect(second.stats().events).toBe(7);
    expect(second.cursor('forward').stats().events).toBe(4);
    await fill(second, 10, 12);
    expect(await drain(second.cursor('forward'))).toBe([6, 7, 8, 9, 10, 11].map(point).join(''));
    expect(await drain(second)).toBe([3, 4, 5, 6, 7, 8, 9, 10, 11].map(point).join(''));
    await second.close();
  });

  it('wakes the forwarder when a record is committed', async () => {
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 20, log, consumers: ['forward'] });
    await j.open();
    let woken = 0;
    j.cursor('forward').onReadable(() => woken++);
    j.append(point(1));
    await waitFor(() => woken > 0, 'the forwarder to be woken');
    await j.close();
  });

  it('does not rotate away a drained write segment (issue 14) that the forwarder has not read, nor delete it', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 24, retainBytes: 0, log, consumers: ['forward'] });
    await j.open();
    const forward = j.cursor('forward');
    // More than RELEASE_DRAINED_BYTES in the write segment, all of it in InfluxDB.
    const big = (i: number): string => `m,t=a v="${'x'.repeat(1000)}",i=${i} ${i}\n`;
    let all = '';
    for (let i = 0; i < 100; i++) {
      j.append(big(i));
      all += big(i);
    }
    await j.committed();
    const held = await segments(dir);
    expect(held).toHaveLength(1);
    const sink = await drainTo(j);
    expect(sink.read).toBe(all);
    // The sink's checkpoint is written (and would free the drained segment): the forwarder still needs it.
    await sinkCheckpointWritten(dir, sink.end);
    expect(await segments(dir)).toEqual(held);
    expect(await drain(forward)).toBe(all);
    // Now both are past it: the next checkpoint write rotates it away and deletes it.
    await waitFor(async () => !(await segments(dir)).includes(held[0]!), 'the drained segment deleted once the forwarder is past it too');
    await j.close();
  });

  it('says the forwarder crowds the disk only while the disk is full and the forwarder is behind the sink', async () => {
    let free = 1 << 30;
    const disk: SpoolDisk = { ...nodeDisk, space: async () => ({ free, size: 1 << 30 }) };
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 24, log, consumers: ['forward'], spaceEveryMs: 20 }, disk);
    await j.open();
    const forward = j.cursor('forward');
    await fill(j, 0, 5);
    expect(forward.crowdsDisk()).toBe(false);
    free = 1024; // below the 5% kept free
    await waitFor(() => j.problem !== undefined, 'the disk to read as full');
    // Both behind: the sink holds the disk too, passing over would free nothing.
    expect(forward.crowdsDisk()).toBe(false);
    await drain(j);
    expect(forward.crowdsDisk()).toBe(true);
    await drain(forward);
    expect(forward.crowdsDisk()).toBe(false);
    await j.close();
  });
});
