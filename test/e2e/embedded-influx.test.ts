/**
 * `npm start` with INFLUX_URL unset, through real processes: the embedded influxd in its own
 * process group with a pid file under DATA_DIR, Ctrl-C at the terminal, an orphan left by a
 * SIGKILL, and a fresh machine where InfluxDB is installed first (apt-get stood in for by a
 * script on PATH that "installs" a wrapper around the real influxd).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive } from '../../gateway/storage/influxd-pidfile.js';
import { useCleanup } from '../helpers/cleanup.js';
import { count, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { spawnGateway } from '../helpers/process.js';
import { gatewayInTty, type TtyProcess } from '../helpers/tty.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const pidFile = (dataDir: string) => join(dataDir, 'influxdb', 'influxd.pid');
async function pidRecord(dataDir: string): Promise<{ pid: number; url: string }> {
  return JSON.parse(await readFile(pidFile(dataDir), 'utf8')) as { pid: number; url: string };
}
/** Whatever a failed test leaves running is stopped. */
function killAfter(pid: number): void {
  defer(async () => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}
/** The process group of a process (the fifth field of /proc/<pid>/stat). */
async function processGroup(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

function tracked(p: TtyProcess): TtyProcess {
  defer(async () => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

/** The embedded default, as a newcomer gets it: no INFLUX_URL. Port 0 so tests never meet on 8086. */
const embeddedEnv = (dataDir: string, db: string): Record<string, string | undefined> => ({
  MQTT_PORT: '0',
  MQTT_WS_PORT: '0',
  HTTP_PORT: '0',
  DATA_DIR: dataDir,
  RULES_DIR: 'rules',
  INFLUX_URL: undefined,
  INFLUX_DB: db,
  EMBEDDED_INFLUX_PORT: '0',
});

async function publishReading(mqttPort: number, id: string): Promise<void> {
  const device = await connect(`mqtt://127.0.0.1:${mqttPort}`);
  await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 21, id }), { qos: 1 });
  await device.endAsync();
}

/** A data directory whose embedded influxd, if a failed test leaves one, is stopped with it. */
async function embeddedDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-embedded-'));
  defer(async () => {
    const left = await pidRecord(dir).catch(() => undefined);
    if (left && alive(left.pid)) process.kill(left.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

describe('the embedded InfluxDB as a process', () => {
  it('survives a SIGKILLed gateway as an orphan that the next start stops and replaces (and says so); Ctrl-C then stops both, with no error', async () => {
    const dataDir = await embeddedDataDir();
    const db = uniqueDb();
    const first = track(spawnGateway(embeddedEnv(dataDir, db)));
    await first.started();
    const orphan = await pidRecord(dataDir);
    killAfter(orphan.pid);
    first.child.kill('SIGKILL');
    await first.exited;
    // Its own process group: the gateway's death did not take it along.
    expect(alive(orphan.pid)).toBe(true);

    const gw = tracked(gatewayInTty(embeddedEnv(dataDir, db)));
    const started = await gw.waitForOutput(/INFO: gateway started (\{.*\})/, 'the second gateway to start');
    expect(started).toContain(`WARN: [influxd] an embedded InfluxDB left running by an earlier run (pid ${orphan.pid}; that gateway did not stop cleanly) was stopped; starting a new one`);
    expect(alive(orphan.pid)).toBe(false);
    const fresh = await pidRecord(dataDir);
    killAfter(fresh.pid);
    expect(fresh.pid).not.toBe(orphan.pid);
    expect(alive(fresh.pid)).toBe(true);
    // It leads a process group of its own: the terminal's Ctrl-C goes to the gateway's group, not to it.
    expect(await processGroup(fresh.pid)).toBe(fresh.pid);

    const ports = (JSON.parse(/INFO: gateway started (\{.*\})/.exec(started)![1]!) as { ports: { mqtt: number } }).ports;
    await publishReading(ports.mqtt, 'embedded-1');
    await waitFor(async () => (await count(fresh.url, db, 'temperature')) === 1, 'the reading in the embedded InfluxDB');

    gw.interrupt();
    expect(await gw.exited).toBe(0);
    const out = gw.output();
    expect(out).toContain(`INFO: [influxd] embedded InfluxDB stopped (pid ${fresh.pid})`);
    expect(out.split('\n').filter((l) => /\] (ERROR|FATAL):/.test(l))).toEqual([]);
    expect(alive(fresh.pid)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
  });
});

/** A PATH with bash and, when `apt` is set, an apt-get that "installs" influxdb as a wrapper around the real one. */
async function freshMachinePath(apt: boolean): Promise<{ bin: string; installed: string }> {
  const bin = await tempDir('gw-fresh-bin-');
  await symlink('/bin/bash', join(bin, 'bash'));
  await symlink('/usr/bin/id', join(bin, 'id'));
  const installed = join(bin, 'influxd');
  if (apt) {
    const script = [
      '#!/bin/sh',
      '# stands in for apt-get: `update` does nothing, `install … influxdb …` puts influxd on PATH',
      'echo "apt-get $*"',
      '[ "$1" = update ] && exit 0',
      'for a in "$@"; do',
      `  if [ "$a" = influxdb ]; then printf '#!/bin/sh\\nexec /usr/bin/influxd "$@"\\n' > '${installed}'; /bin/chmod +x '${installed}'; fi`,
      'done',
    ].join('\n');
    await writeFile(join(bin, 'apt-get'), `${script}\n`);
    await chmod(join(bin, 'apt-get'), 0o755);
  }
  return { bin, installed };
}

describe('npm start on a fresh machine (no influxd installed)', () => {
  it('installs InfluxDB through scripts/setup.sh where it can, says so in one line, and stores readings', async () => {
    const { bin, installed } = await freshMachinePath(true);
    const dataDir = await embeddedDataDir();
    const db = uniqueDb();
    const gw = track(spawnGateway({ ...embeddedEnv(dataDir, db), PATH: bin }));
    const ports = await gw.started(120_000);
    const installing = gw.logs.filter((l) => l.msg.startsWith('InfluxDB is not installed'));
    expect(installing).toHaveLength(1);
    expect(installing[0]!.msg).toContain("installing Debian's influxdb with scripts/setup.sh");
    expect(installing[0]!.msg).toContain('EMBEDDED_INFLUX=never turns this off');
    expect(gw.logs.find((l) => l.msg === 'InfluxDB installed')).toMatchObject({ influxd: installed });
    expect(await readFile(join(dataDir, 'influxdb', 'setup.log'), 'utf8')).toContain('apt-get install -y -q --no-install-recommends influxdb');
    const { pid, url } = await pidRecord(dataDir);
    killAfter(pid);
    await publishReading(ports.mqtt, 'fresh-1');
    await waitFor(async () => (await count(url, db, 'temperature')) === 1, 'the reading in the freshly installed InfluxDB');
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(alive(pid)).toBe(false);
  });

  it('where it cannot install (no apt), names the one command to run and runs on', async () => {
    const { bin } = await freshMachinePath(false);
    const gw = track(spawnGateway({ ...embeddedEnv(await tempDir('gw-fresh-'), uniqueDb()), PATH: bin }));
    await gw.started();
    const errors = gw.logs.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'GW_ERR_INFLUX_NOT_INSTALLED' });
    expect(errors[0]!.msg).toMatch(/^InfluxDB is not installed and this user cannot install it: run `docker run -d -p 127\.0\.0\.1:8086:8086 influxdb:1\.8/);
  });

  it('with EMBEDDED_INFLUX=never, installs nothing and starts nothing', async () => {
    const { bin, installed } = await freshMachinePath(true);
    const dataDir = await tempDir('gw-fresh-');
    const gw = track(spawnGateway({ ...embeddedEnv(dataDir, uniqueDb()), PATH: bin, EMBEDDED_INFLUX: 'never' }));
    await gw.started();
    expect(gw.logs.filter((l) => l.msg.startsWith('InfluxDB is not installed') || l.msg.startsWith('started an embedded'))).toEqual([]);
    expect(existsSync(installed)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
  });
});

describe('closing the terminal', () => {
  it('(SIGHUP) stops the gateway cleanly, and its InfluxDB with it', async () => {
    const dataDir = await embeddedDataDir();
    const gw = track(spawnGateway(embeddedEnv(dataDir, uniqueDb())));
    await gw.started();
    const { pid } = await pidRecord(dataDir);
    gw.child.kill('SIGHUP');
    expect(await gw.exited).toBe(0);
    expect(gw.logs.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGHUP' });
    expect(alive(pid)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
  });
});
