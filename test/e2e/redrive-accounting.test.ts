/**
 * A redrive's summary says what was stored, and its selection is one InfluxDB can answer:
 * letters of devices still unplaced count as still failing (they were counted "redriven" while
 * nothing was stored), and a `since`/`until` past 2262 (InfluxDB's int64 ns) is a 400 with the
 * reason, not a 502 with InfluxDB's "overflowed duration" and an error in the log (outside tester).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

let gw: TestGateway & { mapFile: string };
let z2m: MqttClient;
let device: MqttClient;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', 'gateway/cli/deadletters.ts', ...args], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}
async function post(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.httpUrl}/api/deadletters/redrive`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const errors = (): unknown[] => gw.logs.filter((l) => l.level >= 50);

beforeAll(async () => {
  gw = await startWithMap('# nothing placed yet\n');
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  device = await connect(gw.mqttUrl, { clientId: 'rd-test' });
  await z2m.publishAsync('zigbee2mqtt/porch_sensor', '{"temperature":9.5,"humidity":71,"linkquality":120}', { qos: 1 });
  await z2m.publishAsync('zigbee2mqtt/porch_sensor', '{"temperature":9.25,"humidity":72,"linkquality":118}', { qos: 1 });
  await device.publishAsync('sensors/hq/f1/t-1/temperature', '{"value":"hot"}', { qos: 1 });
  await waitFor(() => rows(gw.influxUrl, gw.db, 'SELECT payload FROM deadletters').then((x) => x.length === 3), 'the three dead letters in InfluxDB');
});
afterAll(async () => {
  await z2m?.endAsync();
  await device?.endAsync();
  await gw?.stop();
});

describe('a redrive of letters whose cause is not fixed yet', () => {
  it('counts a still-unplaced device’s letters as still failing, not redriven', async () => {
    const r = await post({ reason: 'unassigned_device', since: 0 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ read: 2, redriven: 0, alreadyStored: 0, stillFailing: { unassigned_device: 2 } });
    expect(await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature`)).toEqual([]);
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: Record<string, unknown>[] };
    expect(api.devices.find((d) => d['key'] === 'zigbee2mqtt:porch_sensor')).toMatchObject({ waiting: true });
    const out = await cli('redrive', '--reason', 'unassigned_device', '--since', '1h', '--url', gw.httpUrl);
    expect(out.stdout).toMatch(/2 dead letters \(unassigned_device\) since .*: 0 redriven .*still failing: 2 unassigned_device/);
  });

  it('counts letters that give nothing to store now (every key ignored) apart, not as redriven; once mapped, they are', async () => {
    await writeFile(gw.mapFile, 'devices:\n  zigbee2mqtt:porch_sensor: { site: hq, zone: porch, keys: { temperature: ignore, humidity: ignore, linkquality: ignore } }\n');
    const ignored = await post({ reason: 'unassigned_device', since: 0 });
    expect(ignored.body).toMatchObject({ read: 2, redriven: 0, alreadyStored: 0, nothingToStore: 2, stillFailing: {} });
    await writeFile(gw.mapFile, 'devices:\n  zigbee2mqtt:porch_sensor: { site: hq, zone: porch }\n');
    const placed = await post({ reason: 'unassigned_device', since: 0 });
    expect(placed.body).toMatchObject({ read: 2, redriven: 2, nothingToStore: 0, stillFailing: {} });
    const temps = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE zone = 'porch'`).then((x) => (x.length === 2 ? x : undefined)), 'the redriven readings');
    expect(temps.map((t) => t['value'])).toEqual([9.5, 9.25]);
  });
});

describe('a redrive or list past what InfluxDB keeps (2262-04-11T23:47:16Z)', () => {
  it('answers 400 with the reason, for until and since, and logs no error', async () => {
    const until = await post({ reason: 'invalid_payload', since: 0, until: '9999-12-31T23:59:59Z' });
    expect(until.status).toBe(400);
    expect(until.body['error']).toMatch(/^until must be at or before 2262-04-11T23:47:16\.854Z/);
    const since = await post({ reason: 'invalid_payload', since: '9999-12-31T23:59:59Z' });
    expect(since.status).toBe(400);
    expect(since.body['error']).toMatch(/^since must be at or before 2262-04-11T23:47:16\.854Z/);
    const huge = await post({ reason: 'invalid_payload', since: 0, until: 1e20 });
    expect(huge.status).toBe(400);
    // The latest InfluxDB keeps is still a time it selects by.
    const last = await post({ reason: 'invalid_payload', since: 0, until: '2262-04-11T23:47:16.854Z' });
    expect(last).toMatchObject({ status: 200, body: { read: 1, stillFailing: { invalid_payload: 1 } } });
    expect(errors()).toEqual([]);
  });

  it('the CLI says so itself, for redrive, its dry run and list', async () => {
    const redrive = await cli('redrive', '--reason', 'invalid_payload', '--since', '0', '--until', '9999-12-31T23:59:59Z', '--url', gw.httpUrl);
    expect(redrive.code).toBe(1);
    expect(redrive.stderr).toMatch(/--until.*2262-04-11T23:47:16\.854Z/);
    const dry = await cli('redrive', '--reason', 'invalid_payload', '--since', '9999-12-31T23:59:59Z', '--dry-run', '--influx', gw.influxUrl, '--db', gw.db);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toMatch(/--since.*2262-04-11T23:47:16\.854Z/);
    const list = await cli('list', '--until', '9999-12-31T23:59:59Z', '--influx', gw.influxUrl, '--db', gw.db);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/--until.*2262-04-11T23:47:16\.854Z/);
    expect(list.stderr).not.toMatch(/overflow/);
  });
});
