/**
 * The spool when the disk misbehaves: a failed write, a failed segment rotation, a zero-filled
 * tail. Failures are injected into the journal's file calls (its SpoolDisk); the files are real.
 */
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Journal, type Batch } from '../../../gateway/storage/journal.js';
import { segmentName } from '../../../gateway/storage/spool/segments.js';
import { enospc, hookedDisk } from '../../helpers/spool-disk.js';
import { useTempDirs } from '../../helpers/temp-dirs.js';

const log = pino({ level: 'silent' });
const tempDir = useTempDirs('gw-journal-faults-');
const point = (i: number): string => `m,t=a v=${i} ${i}\n`;
const text = (b: Batch | undefined): string => (b ? Buffer.concat(b.bodies).toString() : '');

async function drain(j: Journal): Promise<string> {
  let out = '';
  for (let b = await j.take(7); b; b = await j.take(7)) {
    out += text(b);
    j.confirm(b);
  }
  return out;
}

describe('the spool when the disk fails', () => {
  it('retries a failed write: order is kept, nothing is lost, and the acknowledgement waits instead of failing', async () => {
    let failing = false;
    let failures = 0;
    const disk = hookedDisk((call) => {
      if (call === 'writing.writev' && failing && failures++ < 2) throw enospc();
    });
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 30, memoryBytes: 500, segmentBytes: 1024, log }, disk);
    await j.open();
    const expected: string[] = [];
    let n = 0;
    const add = () => {
      const p = point(n++);
      expected.push(p);
      j.append(p);
    };
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 5; i++) add();
      await j.committed();
    }
    expect(j.stats().readingFromDisk).toBe(true);
    failing = true;
    add();
    const durable = j.committed();
    add(); // arrives while the first write fails: it must come after it
    await expect(durable).resolves.toBeUndefined();
    expect(failures).toBe(3);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 5; i++) add();
      await j.committed();
    }
    expect(await drain(j)).toBe(expected.join(''));
    expect(j.stats()).toMatchObject({ events: 0, bytes: 0 });
    await j.close();
  });

  it('survives a failed segment rotation without overwriting committed records', async () => {
    const dir = await tempDir();
    let failed = false;
    // The first segment is created at open; the first rotation fails.
    const disk = hookedDisk((call, path) => {
      if (call === 'create' && !failed && !path.endsWith(segmentName(1))) {
        failed = true;
        throw enospc();
      }
    });
    const j = new Journal({ dir, maxBytes: 1 << 30, segmentBytes: 1024, log }, disk);
    await j.open();
    const expected: string[] = [];
    let n = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 5; i++) {
        const p = point(n++);
        expected.push(p);
        j.append(p);
      }
      await j.committed();
    }
    expect(failed).toBe(true);
    // A crash now (no close): the next run replays everything committed, in order.
    const again = new Journal({ dir, maxBytes: 1 << 30, log });
    await again.open();
    expect(await drain(again)).toBe(expected.join(''));
    await again.close();
    await j.close();
  });

  it('does not take a zero-filled tail for records', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 30, log });
    await j.open();
    j.append(point(1));
    await j.committed();
    await j.close();
    const [segment] = (await readdir(dir)).filter((f) => /^seg-\d+\.log$/.test(f));
    await appendFile(join(dir, segment!), Buffer.alloc(4000));
    const again = new Journal({ dir, maxBytes: 1 << 30, log });
    await again.open();
    expect(again.stats().events).toBe(1);
    const batch = await again.take(1000);
    expect(batch?.count).toBe(1);
    expect(batch?.bodies).toHaveLength(1);
    expect(text(batch)).toBe(point(1));
    expect(await again.take(1000)).toBeUndefined();
    await again.close();
  });

  it('counts the spool in UTF-8 bytes', async () => {
    const j = new Journal({ dir: await tempDir(), maxBytes: 1 << 30, log });
    await j.open();
    const line = `m,t=a payload="${'€'.repeat(100)}" 1\n`;
    j.append(line);
    expect(j.stats().bytes).toBe(Buffer.byteLength(line));
    await j.close();
  });
});
