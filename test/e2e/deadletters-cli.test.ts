/**
 * `npm run deadletters`: `list` shows the kept dead letters from InfluxDB (filters as redrive
 * selects, --limit, --json, counts by reason); `redrive --dry-run` shows what a redrive would take
 * and stores nothing; a second redrive says its letters were already stored (walkthrough: there
 * was no way to list dead letters, no preview, and a second redrive said "1 redriven" again).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';
import { useCleanup } from '../helpers/cleanup.js';
import { freePort } from '../../gateway/storage/influxd.js';

const { defer } = useCleanup();

const run = promisify(execFile);

let gw: TestGateway & { mapFile: string };
let z2m: MqttClient;
let device: MqttClient;

function cli(script: 'devices' | 'deadletters', ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', `gateway/cli/${script}.ts`, ...args], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}
/** The tool with `env` over the test's (an empty value unsets). */
function cliEnv(env: Record<string, string>, script: 'deadletters', ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === '') delete merged[k];
  return run(process.execPath, ['--import', 'tsx', `gateway/cli/${script}.ts`, ...args], { cwd: ROOT, env: merged }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}
const influx = (): string[] => ['--influx', gw.influxUrl, '--db', gw.db];
const gardenTemps = (): Promise<Record<string, unknown>[]> => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'garden_sensor'`);

beforeAll(async () => {
  gw = await startWithMap('# nothing placed yet\n');
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  device = await connect(gw.mqttUrl, { clientId: 'dl-test' });
  await z2m.publishAsync('zigbee2mqtt/garden_sensor', '{"temperature":12.5,"humidity":80}', { qos: 1 });
  await z2m.publishAsync('zigbee2mqtt/garden_sensor', '{"temperature":13,"humidity":79}', { qos: 1 });
  await device.publishAsync('sensors/hq/f1/t-1/bogus', '{"value":1}', { qos: 1 });
  await device.publishAsync('sensors/hq/f1/t-1/temperature', '{"value":"hot"}', { qos: 1 });
  await waitFor(() => rows(gw.influxUrl, gw.db, 'SELECT payload FROM deadletters').then((x) => x.length === 4), 'the four dead letters in InfluxDB');
});
afterAll(async () => {
  await z2m?.endAsync();
  await device?.endAsync();
  await gw?.stop();
});

describe('npm run deadletters -- list', () => {
  it('shows the kept dead letters newest first, then how many there are by reason', async () => {
    const { code, stdout } = await cli('deadletters', 'list', ...influx());
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^time\s+reason\s+topic\s+client\s+detail\s+payload$/);
    expect(lines[1]).toMatch(/^\S+Z\s+invalid_payload\s+sensors\/hq\/f1\/t-1\/temperature\s+dl-test\s+.+\{"value":"hot"\}$/);
    expect(lines[2]).toMatch(/unknown_kind\s+sensors\/hq\/f1\/t-1\/bogus\s+dl-test/);
    expect(lines[3]).toMatch(/unassigned_device\s+zigbee2mqtt\/garden_sensor\s+zigbee2mqtt_bridge\s+zigbee2mqtt:garden_sensor is waiting.*\{"temperature":13,"humidity":79\}$/);
    expect(lines[4]).toMatch(/unassigned_device.*\{"temperature":12\.5,"humidity":80\}$/);
    expect(lines.at(-1)).toBe('4 dead letters: 2 unassigned_device, 1 invalid_payload, 1 unknown_kind');
  });

  it('selects as redrive does (reason, device, since), shows at most --limit, and says when it shows fewer', async () => {
    const byReason = await cli('deadletters', 'list', '--reason', 'unknown_kind', ...influx());
    expect(byReason.stdout).not.toMatch(/unassigned_device|invalid_payload/);
    expect(byReason.stdout.trim().split('\n').at(-1)).toBe('1 dead letters: 1 unknown_kind');
    const byDevice = await cli('deadletters', 'list', '--device', 'zigbee2mqtt:garden_sensor', ...influx());
    expect(byDevice.stdout.trim().split('\n').at(-1)).toBe('2 dead letters: 2 unassigned_device');
    // A friendly name may hold / and regex characters: matched as text.
    const odd = await cli('deadletters', 'list', '--device', 'zigbee2mqtt:garden/sen.or(1)', ...influx());
    expect(odd).toMatchObject({ code: 0, stdout: `no dead letters in InfluxDB at ${gw.influxUrl}, database ${gw.db}\n` });
    const limited = await cli('deadletters', 'list', '--limit', '1', ...influx());
    expect(limited.stdout.trim().split('\n')).toHaveLength(4);
    expect(limited.stdout).toContain('4 dead letters (the newest 1 shown; --limit): 2 unassigned_device');
    const future = await cli('deadletters', 'list', '--since', new Date(Date.now() + 3_600_000).toISOString(), ...influx());
    expect(future).toMatchObject({ code: 0, stdout: `no dead letters in InfluxDB at ${gw.influxUrl}, database ${gw.db}\n` });
    const bogus = await cli('deadletters', 'list', '--reason', 'bogus', ...influx());
    expect(bogus.code).not.toBe(0);
    expect(bogus.stderr).toMatch(/Allowed choices are invalid_topic, .*unassigned_device/);
  });

  it('prints JSON for scripts: the letters whole, the total and the counts by reason', async () => {
    const { stdout } = await cli('deadletters', 'list', '--reason', 'unassigned_device', '--json', ...influx());
    const json = JSON.parse(stdout) as { total: number; byReason: Record<string, number>; letters: Record<string, unknown>[] };
    expect(json).toMatchObject({ total: 2, byReason: { unassigned_device: 2 } });
    expect(json.letters.map((l) => l['payload'])).toEqual(['{"temperature":13,"humidity":79}', '{"temperature":12.5,"humidity":80}']);
    expect(json.letters[0]).toMatchObject({ reason: 'unassigned_device', topic: 'zigbee2mqtt/garden_sensor', clientId: 'zigbee2mqtt_bridge' });
    expect(json.letters[0]!['time']).toBe(new Date(json.letters[0]!['timeMs'] as number).toISOString());
  });

  it('says which InfluxDB does not answer', async () => {
    for (const args of [['list'], ['redrive', '--reason', 'unknown_kind', '--since', '1h', '--dry-run']]) {
      const failed = await cli('deadletters', ...args, '--influx', 'http://127.0.0.1:9');
      expect(failed.code).toBe(1);
      // Node's fetch names the cause's code when it has one (ECONNREFUSED), else says "fetch failed".
      expect(failed.stderr).toMatch(/^deadletters: GW_ERR_INFLUX_UNREACHABLE: InfluxDB at http:\/\/127\.0\.0\.1:9, database iot: (ECONNREFUSED|fetch failed): is InfluxDB running there\? \(--influx, or INFLUX_URL\)\n$/);
    }
  });

  it('says, with no InfluxDB named, that the embedded one runs only while the gateway does', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-dl-noinflux-'));
    defer(() => rm(dataDir, { recursive: true, force: true }));
    const failed = await cliEnv({ INFLUX_URL: '', DATA_DIR: dataDir, EMBEDDED_INFLUX_PORT: String(await freePort()) }, 'deadletters', 'list');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("the gateway's embedded InfluxDB, which runs only while the gateway does (npm start)");
  });
});

describe('npm run deadletters -- redrive', () => {
  it('--dry-run lists what a redrive would take and stores nothing; a redrive then stores it, and a second says it was already stored', async () => {
    expect((await cli('devices', 'assign', 'zigbee2mqtt:garden_sensor', '--site', 'hq', '--zone', 'garden', '--url', gw.httpUrl)).code).toBe(0);
    const dry = await cli('deadletters', 'redrive', '--reason', 'unassigned_device', '--since', '1h', '--dry-run', '--url', gw.httpUrl, ...influx());
    expect(dry.code).toBe(0);
    const lines = dry.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^would\s+time\s+reason/);
    expect(lines[1]).toMatch(/^redrive\s+\S+Z\s+unassigned_device.*\{"temperature":12\.5,"humidity":80\}$/);
    expect(lines[2]).toMatch(/^redrive\s+.*\{"temperature":13,"humidity":79\}$/);
    expect(lines.at(-1)).toMatch(/^dry run: 2 dead letters \(unassigned_device\) since \S+: 2 would be fed through ingest again; nothing redriven/);
    const json = JSON.parse((await cli('deadletters', 'redrive', '--reason', 'unassigned_device', '--since', '1h', '--dry-run', '--json', ...influx())).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ dryRun: true, read: 2, wouldRedrive: 2, skipped: {} });

    // Once a reading sent after the dry run is in InfluxDB, anything the dry run had stored would be too.
    await z2m.publishAsync('zigbee2mqtt/garden_sensor', '{"temperature":14,"humidity":78}', { qos: 1 });
    await waitFor(() => gardenTemps().then((x) => x.length > 0), 'the live reading');
    expect((await gardenTemps()).map((t) => t['value'])).toEqual([14]);

    const first = await cli('deadletters', 'redrive', '--reason', 'unassigned_device', '--since', '1h', '--url', gw.httpUrl);
    expect(first.stdout).toMatch(/^2 dead letters \(unassigned_device\) since \S+: 2 redriven into readings at their original times\n$/);
    const again = await cli('deadletters', 'redrive', '--reason', 'unassigned_device', '--since', '1h', '--url', gw.httpUrl);
    expect(again.stdout).toMatch(/: 0 redriven into readings at their original times; 2 already stored \(redriven before: nothing written again\)\n$/);
    await waitFor(() => gardenTemps().then((x) => x.length === 3), 'the redriven readings');
    expect((await gardenTemps()).map((t) => t['value'])).toEqual([12.5, 13, 14]);
  });
});
