/**
 * Writes that fail on a full disk (an operator's report, a 5 MB tmpfs filled up): the spool's
 * checkpoint said so without an error code, and a snapshot write left an empty
 * `mqtt-state.bin.tmp` behind. Each failure carries its code and leaves no temp file.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeAtomically } from '../../../gateway/broker/snapshot-file.js';
import { Checkpoint } from '../../../gateway/storage/spool/checkpoint.js';
import { nodeDisk } from '../../../gateway/storage/spool/disk.js';
import { captureLogs } from '../../helpers/gateway.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'gw-test-failed-writes-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

const noSpace = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('a write that fails', () => {
  it('of the broker snapshot leaves no temp file', async () => {
    const batches = (function* (): Generator<Buffer[]> {
      yield [Buffer.from('first batch')];
      throw noSpace();
    })();
    await expect(writeAtomically(join(dir, 'mqtt-state.bin'), batches)).rejects.toThrow('ENOSPC');
    expect(await readdir(dir)).toEqual([]);
  });

  it('of the spool checkpoint is logged with its code (GW_ERR_SPOOL_WRITE)', async () => {
    const { lines, stream } = captureLogs();
    const disk = { ...nodeDisk, writeFile: () => Promise.reject(noSpace()) };
    const checkpoint = new Checkpoint({ dir, disk, log: pino(stream), release: () => Promise.resolve() });
    checkpoint.advance({ segment: 1, offset: 10 });
    await checkpoint.close();
    const error = lines.find((l) => l.level === 50);
    expect(error).toMatchObject({ code: 'GW_ERR_SPOOL_WRITE', msg: expect.stringContaining('could not persist the spool checkpoint') });
  });
});
