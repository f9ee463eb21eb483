import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../../gateway/storage/journal.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('the spool reader', () => {
  it('reads a record larger than its read chunk (4 MiB) back from disk whole, between smaller ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-spool-reader-'));
    dirs.push(dir);
    const j = new Journal({ dir, maxBytes: 1 << 30, memoryBytes: 100, log });
    await j.open();
    const big = `m,t=a s="${'x'.repeat(5 * 1024 * 1024)}" 2\n`;
    const lines = ['m,t=a v=1 1\n', big, 'm,t=a v=3 3\n'];
    for (const line of lines) {
      j.append(line);
      await j.committed();
    }
    expect(j.stats().readingFromDisk).toBe(true);
    const taken: string[] = [];
    for (let b = await j.take(1000, 1); b; b = await j.take(1000, 1)) {
      taken.push(Buffer.concat(b.bodies).toString());
      j.confirm(b);
    }
    expect(taken).toEqual(lines);
    expect(j.stats()).toMatchObject({ events: 0, bytes: 0, readingFromDisk: false });
    await j.close();
  });
});
