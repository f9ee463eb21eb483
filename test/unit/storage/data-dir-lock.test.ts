import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../../../gateway/storage/data-dir-lock.js';
import { startGateway } from '../../helpers/gateway.js';

const log = pino({ level: 'silent' });
let dir: string;
const children: ChildProcess[] = [];

function running(cmd: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  children.push(child);
  return new Promise((resolve, reject) => child.once('spawn', () => resolve(child)).once('error', reject));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-lock-'));
});

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('DATA_DIR lock', () => {
  it('is taken with this process’s pid and released at stop, so the next start takes it again', async () => {
    const lock = await lockDataDir(dir, log);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await lock.stop();
    await expect(readFile(join(dir, LOCK_FILE), 'utf8')).rejects.toThrow(/ENOENT/);
    await (await lockDataDir(dir, log)).stop();
  });

  it('refuses a DATA_DIR another running gateway (a Node process) holds, naming it and what to do', async () => {
    const other = await running(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    await writeFile(join(dir, LOCK_FILE), `${other.pid}\n`);
    await expect(lockDataDir(dir, log)).rejects.toMatchObject({
      code: 'GW_ERR_DATA_DIR',
      message: expect.stringContaining(`is in use by another gateway (pid ${other.pid}`),
    });
    await expect(lockDataDir(dir, log)).rejects.toThrow(/own DATA_DIR \(and EMBEDDED_INFLUX_PORT=0/);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${other.pid}\n`);
  });

  it('takes over the lock of a gateway that no longer runs, or of a pid now some other program’s', async () => {
    const gone = await running(process.execPath, ['-e', '0']);
    await new Promise((r) => gone.once('exit', r));
    await writeFile(join(dir, LOCK_FILE), `${gone.pid}\n`);
    const first = await lockDataDir(dir, log);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await first.stop();

    const sleeper = await running('sleep', ['60']);
    await writeFile(join(dir, LOCK_FILE), `${sleeper.pid}\n`);
    await (await lockDataDir(dir, log)).stop();
  });

  it('leaves a lock another gateway took over since alone at stop', async () => {
    const lock = await lockDataDir(dir, log);
    await writeFile(join(dir, LOCK_FILE), '999999\n');
    await lock.stop();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe('999999\n');
  });

  it('stops a gateway’s start before it opens anything in a DATA_DIR another gateway holds (its spool, the embedded InfluxDB’s pidfile)', async () => {
    const other = await running(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    await writeFile(join(dir, LOCK_FILE), `${other.pid}\n`);
    await expect(startGateway({ dataDir: dir })).rejects.toMatchObject({ code: 'GW_ERR_DATA_DIR' });
    expect(await readdir(dir)).toEqual([LOCK_FILE]);
  });
});
