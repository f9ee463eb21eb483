/**
 * Which InfluxDB the tools (trace, rules:replay) read when not told: they found none when the
 * gateway ran its embedded one on another port (EMBEDDED_INFLUX_PORT), found by a walkthrough.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultInfluxUrl } from '../../../gateway/cli/gateway-api.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A DATA_DIR whose embedded InfluxDB's pid file names `pid` at `url`. */
async function dataDirWith(pid: number, url: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-default-influx-'));
  dirs.push(dir);
  await mkdir(join(dir, 'influxdb'));
  await writeFile(join(dir, 'influxdb', 'influxd.pid'), `${JSON.stringify({ pid, url, startedAt: new Date().toISOString() })}\n`);
  return dir;
}

describe('defaultInfluxUrl', () => {
  it('is INFLUX_URL when set', async () => {
    const dir = await dataDirWith(process.pid, 'http://127.0.0.1:40001');
    expect(defaultInfluxUrl({ INFLUX_URL: 'http://influx.lan:8086', DATA_DIR: dir })).toBe('http://influx.lan:8086');
  });

  it("is the running embedded InfluxDB of DATA_DIR's gateway, wherever it listens", async () => {
    const dir = await dataDirWith(process.pid, 'http://127.0.0.1:40001');
    expect(defaultInfluxUrl({ DATA_DIR: dir, EMBEDDED_INFLUX_PORT: '18086' })).toBe('http://127.0.0.1:40001');
  });

  it('is where the gateway would start it when none runs: EMBEDDED_INFLUX_PORT, else 8086', async () => {
    // A pid no process has (above Linux's pid_max).
    const dir = await dataDirWith(4_194_305, 'http://127.0.0.1:40001');
    expect(defaultInfluxUrl({ DATA_DIR: dir, EMBEDDED_INFLUX_PORT: '18086' })).toBe('http://127.0.0.1:18086');
    expect(defaultInfluxUrl({ DATA_DIR: join(dir, 'nothing-here') })).toBe('http://127.0.0.1:8086');
    expect(defaultInfluxUrl({ DATA_DIR: dir, EMBEDDED_INFLUX_PORT: '0' })).toBe('http://127.0.0.1:8086');
  });
});
