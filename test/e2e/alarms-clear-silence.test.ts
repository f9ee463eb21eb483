/**
 * An operator's clear (`"clear": true`) of a removed smoke detector's alarm also forgets its
 * silence watch: the shipped `smoke-sensor-silent` rule (absent, scope device, 30 minutes) does
 * not raise "silent" for the detector just removed, nor does the silence watch (OFFLINE_AFTER_MS)
 * call it silent, live or after a restart that replays the clear; a detector not cleared still is. A real gateway on a manual clock, real MQTT clients.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const min = 60_000;
const db = uniqueDb('clear_silence');
let parent: string;
let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
let client: MqttClient;
let alerts: Awaited<ReturnType<typeof collect>>;
let seq = 0;

interface AlertJson {
  type: string;
  data: { device: string };
}

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: `clear-silence-${++seq}` });
  alerts = await collect(client, 'alerts/#');
}

async function smoke(zone: string, device: string, value: boolean): Promise<void> {
  await client.publishAsync(`sensors/hq/${zone}/${device}/smoke`, JSON.stringify({ value, id: `r${++seq}` }), { qos: 1 });
}

/** Raises the smoke alarm of `device` and clears it as an operator whose detector was removed. */
async function removeInAlarm(zone: string, device: string): Promise<void> {
  await smoke(zone, device, true);
  const alarm = await waitFor(async () => {
    const list = ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: { id: string; rule: string; device?: string }[] }).alarms;
    return list.find((a) => a.rule === 'smoke-alarm' && a.device === device);
  }, `the smoke alarm of ${device}`);
  const res = await fetch(`${gw.httpUrl}/api/alarms/${alarm.id}/ack`, { method: 'POST', body: JSON.stringify({ by: 'ops', note: `${device} removed`, clear: true }) });
  expect(res.status).toBe(200);
}

/** The silence watch (OFFLINE_AFTER_MS, 5 minutes) said the device is silent. */
const saidSilent = (device: string) => gw.logs.filter((l) => l['device'] === device && l.msg.startsWith(`device ${device} is silent`));
const silentFor = (device: string) => alerts.messages.filter((m) => m.json<AlertJson>().type === 'safety.sensor-silent' && m.json<AlertJson>().data.device === device);

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'gw-clear-silence-'));
  dataDir = join(parent, 'data');
  await start(Date.now());
});

afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(parent, { recursive: true, force: true });
});

describe('an operator clears the alarm of a removed smoke detector', () => {
  it('raises no "silent" alarm for it 30 minutes later; a detector not cleared gets its own', async () => {
    await removeInAlarm('k1', 'sd5');
    await smoke('k2', 'sd6', false);
    await advanceRules(gw, clock, 1000);
    await advanceRules(gw, clock, 31 * min);
    await alerts.next((m) => m.json<AlertJson>().type === 'safety.sensor-silent' && m.json<AlertJson>().data.device === 'sd6');
    // Every timer due has run (advanceRules waits for each): what came is all that will.
    expect(silentFor('sd5')).toEqual([]);
    // Nor does the silence watch call it silent (logged, stored, shown on the live page).
    await waitFor(() => saidSilent('sd6').length === 1, 'sd6 said silent');
    expect(saidSilent('sd5')).toEqual([]);
    expect(gw.logs.find((l) => l['device'] === 'sd5' && l.msg.includes('no longer watched for silence'))).toBeDefined();
    const said = gw.logs.find((l) => l['device'] === 'sd5' && typeof l['watches'] === 'number');
    expect(said).toMatchObject({ level: 30, kinds: ['smoke'], watches: 1 });
  });

  it('still forgets it after a restart that replays the clear', async () => {
    await removeInAlarm('k3', 'sd7');
    await smoke('k4', 'sd8', false);
    await waitFor(async () => (await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "transition" = 'cleared'`)).length === 2, 'both clears stored');
    await advanceRules(gw, clock, 1000);
    const at = clock.now();
    await client.endAsync();
    await gw.stop();
    await start(at);
    await advanceRules(gw, clock, 31 * min);
    await alerts.next((m) => m.json<AlertJson>().type === 'safety.sensor-silent' && m.json<AlertJson>().data.device === 'sd8');
    expect(silentFor('sd7')).toEqual([]);
    await waitFor(() => saidSilent('sd8').length === 1, 'sd8 said silent');
    expect(saidSilent('sd7')).toEqual([]);
    expect(gw.logs.find((l) => l['device'] === 'sd7' && l['replayed'] === true)).toMatchObject({ watches: 1 });
  });
});
