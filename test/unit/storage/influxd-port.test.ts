/** Starting influxd: the InfluxDB that answers on the port must be the one just started (a real influxd and a real listener). */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listensOn } from '../../../gateway/storage/influxd-pidfile.js';
import { startInfluxd } from '../../../gateway/storage/influxd.js';

const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u();
});

describe('influxd start', () => {
  it('tells which process listens on a port', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    undo.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;
    expect(await listensOn(process.pid, port)).toBe(true);
    // Another process, alive, that listens on nothing.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    undo.push(async () => other.kill('SIGKILL'));
    expect(await listensOn(other.pid, port)).toBe(false);
    expect(await listensOn(process.pid, port === 65535 ? 65534 : port + 1)).toBe(false);
  });

  it('refuses to take another InfluxDB on its port for its own', async () => {
    const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'gw-test-influxd-port-'))));
    undo.push(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
    const first = await startInfluxd({ dataDir: dirs[0]! });
    undo.push(() => first.stop());
    // The second cannot bind the first's port and exits: an error, not the first's URL.
    await expect(startInfluxd({ dataDir: dirs[1]!, port: first.port, readyTimeoutMs: 20_000 })).rejects.toThrow(/exited before it was ready/);
    expect(await listensOn(first.child.pid, first.port)).toBe(true);
  }, 40_000);
});
