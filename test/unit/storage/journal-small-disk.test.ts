/**
 * Issue 14, situation 4 without a mount: the parts of "a small disk under DATA_DIR" that can be
 * shown with a failure injected at the spool's disk (spool/disk.ts, the one interface every file
 * call of the spool goes through), on real files. test/fault/kept-for-real/small-disk.test.ts
 * shows the same on a real small tmpfs where the machine allows mounting.
 *
 * Written to fail on the code before issue 14's fix: Journal kept the bytes InfluxDB confirmed
 * until a 16 MiB segment rotated; a short writev() was taken for a commit; Journal.open()
 * rejected when the torn tail could not be written aside; Gateway.readiness() said ready while
 * the spool could not write.
 */
import { appendFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal, type Batch } from '../../../gateway/storage/journal.js';
import { nodeDisk, type SpoolDisk, type SpoolFile } from '../../../gateway/storage/spool/disk.js';
import { startGateway } from '../../helpers/gateway.js';
import { connect } from '../../helpers/mqtt.js';
import { enospc } from '../../helpers/spool-disk.js';
import { useTempDirs } from '../../helpers/temp-dirs.js';
import { waitFor } from '../../helpers/wait.js';

/** The injected disk's state. */
const disk = {
  /** Every write (writev, writeFile, create) fails with ENOSPC. */
  full: false,
  /** The next writev writes only this many bytes (the disk filled mid-record) and reports it. */
  shortNext: undefined as number | undefined,
};

/** The real disk, but full or short when the test says so. */
const smallDisk: SpoolDisk = {
  ...nodeDisk,
  async create(path) {
    if (disk.full) throw enospc();
    const file = await nodeDisk.create(path);
    const wrapped: SpoolFile = {
      async writev(buffers, position) {
        if (disk.full) throw enospc();
        if (disk.shortNext !== undefined) {
          const part = Buffer.concat(buffers).subarray(0, disk.shortNext);
          disk.shortNext = undefined;
          await file.writev([part], position);
          // The disk is full now: the rest is refused.
          disk.full = true;
          setTimeout(() => (disk.full = false), 50);
          return { bytesWritten: part.length };
        }
        return file.writev(buffers, position);
      },
      truncate: (length) => file.truncate(length),
      datasync: () => file.datasync(),
      read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
      close: () => file.close(),
    };
    return wrapped;
  },
  async writeFile(path, data) {
    if (disk.full) throw enospc();
    return nodeDisk.writeFile(path, data);
  },
};

const log = pino({ level: 'silent' });
const tempDir = useTempDirs('gw-small-disk-');
afterEach(() => {
  disk.full = false;
  disk.shortNext = undefined;
});
const point = (i: number): string => `m,t=a v=${i},event_id="e${i}" ${1_700_000_000_000 + i}\n`;
const text = (b: Batch | undefined): string => (b ? Buffer.concat(b.bodies).toString() : '');

async function appendGroup(j: Journal, from: number, to: number): Promise<string> {
  let out = '';
  for (let i = from; i < to; i++) {
    out += point(i);
    j.append(point(i));
  }
  await j.committed();
  return out;
}

async function drain(j: Journal): Promise<string> {
  let out = '';
  for (let b = await j.take(100); b; b = await j.take(100)) {
    out += text(b);
    j.confirm(b);
  }
  return out;
}

/** Bytes the spool's segment files occupy on disk. */
async function segmentBytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) if (name.startsWith('seg-')) total += (await stat(join(dir, name))).blocks * 512;
  return total;
}

describe('issue 14 (4) with an injected ENOSPC: the spool on a small disk', () => {
  it('releases what the consumer confirmed, whatever the size of its segment', async () => {
    const dir = await tempDir();
    // The real disk under the test is large: without retainBytes: 0 the last 16 MiB InfluxDB holds
    // would be kept for the next start (retention.ts; a disk under 1 GiB keeps none).
    const j = new Journal({ dir, maxBytes: 1 << 30, retainBytes: 0, log }, smallDisk); // default segment size
    await j.open();
    for (let g = 0; g < 20; g++) await appendGroup(j, g * 100, (g + 1) * 100);
    expect(await segmentBytesOnDisk(dir)).toBeGreaterThan(50_000);
    await drain(j);
    expect(j.stats()).toMatchObject({ events: 0, bytes: 0 });
    await waitFor(async () => (await segmentBytesOnDisk(dir)) === 0, 'confirmed bytes released', 5000).catch(() => undefined);
    expect(await segmentBytesOnDisk(dir), 'bytes of confirmed records still on disk').toBe(0);
    await j.close();
  });

  it('does not take a short write (the disk filled mid-record) for a commit: a crash after it replays every committed line', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 30, log }, smallDisk);
    await j.open();
    let expected = await appendGroup(j, 0, 10);
    disk.shortNext = 100; // the next group reaches the disk only in part
    expected += await appendGroup(j, 10, 20);
    expected += await appendGroup(j, 20, 30);
    // A crash: no close(); the next run reads what is on disk.
    const next = new Journal({ dir, maxBytes: 1 << 30, log }, smallDisk);
    await next.open();
    const replayed = await drain(next);
    const got = new Set(replayed.split('\n'));
    expect(expected.split('\n').filter((l) => !got.has(l)), 'committed lines not replayed after the crash').toEqual([]);
    expect(replayed).toBe(expected);
    await next.close();
    await j.close().catch(() => undefined);
  });

  it('opens on a full disk with a torn tail (it cannot write the tail aside): it comes up, replays what is whole, and writes once space returns', async () => {
    const dir = await tempDir();
    const j = new Journal({ dir, maxBytes: 1 << 30, log }, smallDisk);
    await j.open();
    const whole = await appendGroup(j, 0, 10);
    await j.close();
    const segment = (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort().at(-1)!;
    // A record header that promises 1,000 bytes, and 10 of them: the disk filled mid-write.
    const header = Buffer.alloc(20);
    header.writeUInt32LE(1000, 0);
    header.writeUInt32LE(0, 4);
    header.writeUInt32LE(3, 8);
    header.writeDoubleLE(Date.now(), 12);
    await appendFile(join(dir, segment), Buffer.concat([header, Buffer.alloc(10, 0x61)]));

    disk.full = true;
    const again = new Journal({ dir, maxBytes: 1 << 30, log }, smallDisk);
    const opened = await again.open().then(
      () => 'opened',
      (err: Error) => `open() rejected: ${err.message}`,
    );
    expect(opened, 'Journal.open() on a full disk').toBe('opened');
    expect(text(await again.take(100))).toBe(whole);
    disk.full = false;
    again.append(point(99));
    await again.committed();
    await again.close();
  });

  it('a gateway whose spool cannot write says not ready on /readyz, and acknowledges once it can', { timeout: 60_000 }, async () => {
    const dir = await tempDir();
    const gw = await startGateway({ dataDir: dir, spoolDisk: smallDisk });
    try {
      const device = await connect(gw.mqttUrl, { clientId: 'enospc-1' });
      disk.full = true;
      let acked = false;
      device.publish('sensors/enospc/z1/enospc-1/temperature', JSON.stringify({ value: 21, id: 'enospc-1' }), { qos: 1 }, (err) => (acked = !err));
      const readyz = async () => {
        const res = await fetch(`${gw.httpUrl}/readyz`);
        return { status: res.status, body: (await res.json()) };
      };
      await waitFor(async () => (await readyz()).status === 503, '/readyz not ready', 10_000, 100).catch(() => undefined);
      expect.soft(await readyz(), '/readyz while every spool write fails with ENOSPC').toMatchObject({ status: 503, body: { checks: { spool: { ok: false } } } });
      expect(acked).toBe(false);
      disk.full = false;
      await waitFor(() => acked, 'the acknowledgement once the disk takes writes', 20_000);
      device.end(true);
    } finally {
      disk.full = false;
      await gw.stop();
    }
  });
});
