/**
 * `npm start` itself, as a supervisor (systemd, a process manager, a shell script's `kill`) runs
 * it: npm, its shell, the build, then the gateway. A SIGTERM sent to npm's own pid must stop the
 * gateway: npm forwards it to its child, which must be the gateway, not a shell that dies and
 * leaves the gateway serving its ports and holding DATA_DIR's lock.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { uniqueDb } from '../helpers/influx.js';
import { spawnNpmStart } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The processes under `root` (from /proc), with their command lines. */
async function descendants(root: number): Promise<{ pid: number; cmd: string }[]> {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmd.set(Number(name), (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' '));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: { pid: number; cmd: string }[] = [];
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  for (const pid of parent.keys()) if (under(pid)) found.push({ pid, cmd: cmd.get(pid) ?? '' });
  return found;
}

/**
 * `npm start` on a DATA_DIR of its own, started: its ports, and the one gateway process under npm
 * (killed at the end whatever happens: no gateway outlives the test).
 */
async function npmStart(o: { ownGroup?: boolean } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-npm-start-'));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const npm = track(spawnNpmStart({ MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', DATA_DIR: dataDir, RULES_DIR: 'rules', INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb() }, o));
  // The first start compiles (README: about 10 s, longer on a busy machine).
  const ports = await npm.started(180_000);
  const gateways = (await descendants(npm.child.pid ?? 0)).filter((p) => p.cmd.startsWith('node ') && p.cmd.includes('dist/gateway/main.js'));
  defer(async () => {
    for (const g of gateways) if (alive(g.pid)) process.kill(g.pid, 'SIGKILL');
  });
  expect(gateways).toHaveLength(1);
  return { npm, ports, dataDir, pid: gateways[0]!.pid };
}

describe('npm start, signalled through npm', () => {
  it('stops the gateway on a SIGTERM to npm: it logs its stop, exits, and frees its ports', { timeout: 240_000 }, async () => {
    const { npm, ports, pid } = await npmStart();
    expect((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).status).toBe(200);

    npm.child.kill('SIGTERM');
    await npm.exited;
    await waitFor(() => !alive(pid), 'the gateway process to exit', 30_000);
    expect(npm.logs.some((l) => l.msg === 'gateway stopped')).toBe(true);
    await expect(fetch(`http://127.0.0.1:${ports.http}/healthz`)).rejects.toThrow();
  });

  // A terminal's Ctrl-C signals npm's whole process group: the gateway has SIGINT from the
  // terminal, then again from npm, which forwards it. The second one killed it mid-stop.
  it('stops the gateway cleanly on Ctrl-C in a terminal (SIGINT to the process group): it logs its stop and leaves no lock', { timeout: 240_000 }, async () => {
    const { npm, ports, pid, dataDir } = await npmStart({ ownGroup: true });

    process.kill(-(npm.child.pid ?? 0), 'SIGINT');
    await waitFor(() => !alive(pid), 'the gateway process to exit', 30_000);
    await npm.exited;
    expect(npm.logs.some((l) => l.msg === 'gateway stopped')).toBe(true);
    expect(await readdir(dataDir)).not.toContain('gateway.lock');
    await expect(fetch(`http://127.0.0.1:${ports.http}/healthz`)).rejects.toThrow();
  });
});
