/**
 * The compose demo's gateway settings, as real processes: credentials generated and printed at
 * the first start (and not again), the simulator publishing with its own from its file,
 * anonymous clients reading but never publishing; and the time zone the rules use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { spawnGateway } from '../helpers/process.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-demo-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const demoEnv = (dataDir: string): Record<string, string | undefined> => ({
  MQTT_PORT: '0',
  MQTT_WS_PORT: '0',
  HTTP_PORT: '0',
  DATA_DIR: dataDir,
  RULES_DIR: 'rules',
  INFLUX_URL: inject('influxUrl'),
  INFLUX_DB: uniqueDb(),
  CREDENTIALS_FILE: undefined,
  // As docker-compose.yml, on loopback.
  BIND_HOST: '127.0.0.1',
  INITIAL_CREDENTIALS: 'admin:admin,simulator:admin',
  MQTT_ALLOW_ANONYMOUS: 'true',
  MQTT_ANONYMOUS_ROLE: 'observer',
});

describe('INITIAL_CREDENTIALS (the compose demo)', () => {
  it('creates the credentials at the first start, prints each secret once, and the simulator publishes with its own; anonymous clients only read', async () => {
    const dataDir = await tempDir();
    const gw = track(spawnGateway(demoEnv(dataDir)));
    const ports = await gw.started();
    const url = `mqtt://127.0.0.1:${ports.mqtt}`;
    const created = gw.logs.filter((l) => l.msg.startsWith('first start: created credential'));
    expect(created.map((l) => l['name'])).toEqual(['admin', 'simulator']);
    const secretFile = join(dataDir, 'initial-secrets', 'simulator');
    const secret = (await readFile(secretFile, 'utf8')).trim();
    expect(created[1]!.msg).toContain(`secret ${secret}`);
    expect(created[1]!.msg).toContain(secretFile);
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'initial-secrets'))).mode & 0o777).toBe(0o700);

    // An anonymous observer sees what the simulator sends, and may not send itself.
    const watcher = await connect(url, { clientId: 'anon-watch' });
    const readings = await collect(watcher, 'sensors/#');
    const sim = await runTs('simulators/cli.ts', ['--url', url, '--username', 'simulator', '--password-file', secretFile, '--devices', '2', '--count', '10', '--rate', '0', '--prefix', 'demo', '--json']);
    expect(sim.code, sim.stderr).toBe(0);
    expect(JSON.parse(sim.stdout)).toMatchObject({ sent: 10, acknowledged: 10, failed: 0 });
    await readings.next((m) => m.topic.includes('/demo-'));
    const closed = new Promise<void>((resolve) => watcher.once('close', () => resolve()));
    watcher.publish('sensors/hq/f1/anon/temperature', '{"value":20}', { qos: 1 });
    await closed;
    // The log line comes through the gateway's stdout, which may arrive after the socket closes.
    await waitFor(() => gw.logs.some((l) => l['reason'] === 'publish_denied' && l['clientId'] === 'anon-watch'), 'the refusal of anon-watch in the log', 10_000);
    watcher.end(true);

    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    // The next start finds credentials: nothing created, nothing printed.
    const again = track(spawnGateway(demoEnv(dataDir)));
    await again.started();
    expect(again.logs.filter((l) => l.msg.startsWith('first start'))).toEqual([]);
  });

  it('refuses a malformed list (or a device role, which needs a site and zone) with a message naming it', async () => {
    const gw = track(spawnGateway({ ...demoEnv(await tempDir()), INITIAL_CREDENTIALS: 'admin:admin,t-1:device' }));
    expect(await gw.exited).toBe(1);
    expect(gw.logs.find((l) => l.level === 60)?.msg).toMatch(/^GW_ERR_SETTINGS: INITIAL_CREDENTIALS: must match pattern .*\(got "admin:admin,t-1:device"\)/);
  });
});

describe('the time zone of the rules', () => {
  it('is TZ when set, and the system’s when TZ is empty (as compose passes it through), and is logged at start', async () => {
    const tokyo = track(spawnGateway({ ...demoEnv(await tempDir()), TZ: 'Asia/Tokyo' }));
    await tokyo.started();
    expect(tokyo.logs.find((l) => l.msg === 'gateway started')?.['timeZone']).toBe('Asia/Tokyo');
    const empty = track(spawnGateway({ ...demoEnv(await tempDir()), TZ: '' }));
    await empty.started();
    // The system's zone: what Node says with no TZ at all.
    const { TZ: _tz, ...noTz } = process.env;
    const system = execFileSync(process.execPath, ['-e', 'process.stdout.write(Intl.DateTimeFormat().resolvedOptions().timeZone)'], { env: noTz }).toString();
    expect(empty.logs.find((l) => l.msg === 'gateway started')?.['timeZone']).toBe(system);
    expect(empty.logs.find((l) => l.msg === 'gateway started')?.['timeZone']).not.toBe('Etc/Unknown');
  });
});
