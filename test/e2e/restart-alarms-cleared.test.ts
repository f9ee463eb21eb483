/**
 * Alarms cleared by an operator stay cleared across restarts, through a real gateway on a manual
 * clock stopped and started again on the same DATA_DIR and InfluxDB database. An acknowledgement
 * with `"clear": true` stores `acknowledged` and `cleared` at the same millisecond (two series:
 * `transition` is a tag); the rebuild must not turn the alarm back on whichever of the two it
 * meets last — in the window it replays, nor as the last transition read before it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const m = 60_000;
const N = 20;
const db = uniqueDb('restart_cleared');
let parent: string;
let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
let client: MqttClient;
let seq = 0;
const ids: string[] = [];

interface AlarmJson {
  id: string;
  rule: string;
  device: string;
  state: string;
}

const alarms = async (): Promise<AlarmJson[]> => ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms;
const smokeAlarms = async (): Promise<AlarmJson[]> => (await alarms()).filter((a) => a.rule === 'smoke-alarm');

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: `restart-cleared-${++seq}` });
}

async function restart(): Promise<void> {
  const at = clock.now();
  await client.endAsync();
  await gw.stop();
  await start(at);
}

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'gw-restart-cleared-'));
  dataDir = join(parent, 'data');
  await start(Date.now());
  for (let n = 1; n <= N; n++) await client.publishAsync(`sensors/hq/x${n}/sx${n}/smoke`, JSON.stringify({ value: true, id: `s${n}` }), { qos: 1 });
  const raised = await waitFor(async () => {
    const list = await smokeAlarms();
    return list.length === N ? list : undefined;
  }, 'every smoke alarm raised');
  ids.push(...raised.map((a) => a.id));
  // Each cleared by an operator: its `acknowledged` and `cleared` are stored at the same millisecond (the clock does not move).
  for (const id of ids) {
    const res = await fetch(`${gw.httpUrl}/api/alarms/${id}/ack`, { method: 'POST', body: JSON.stringify({ by: 'ops', clear: true }) });
    expect(res.status).toBe(200);
  }
  expect(await smokeAlarms()).toEqual([]);
  await waitFor(async () => (await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "transition" = 'cleared'`)).length === N, 'every clear stored');
  const same = await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "transition" = 'acknowledged'`);
  const cleared = await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "transition" = 'cleared'`);
  // The case under test: both transitions of each alarm at one time.
  expect(same.map((r) => `${String(r['alarm_id'])}@${String(r['time'])}`).sort()).toEqual(cleared.map((r) => `${String(r['alarm_id'])}@${String(r['time'])}`).sort());
  await advanceRules(gw, clock, 1000);
});

afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(parent, { recursive: true, force: true });
});

describe('smoke alarms cleared by an operator, then restarts', () => {
  it('stay cleared after a restart that replays their transitions in its window', async () => {
    await restart();
    expect(await smokeAlarms()).toEqual([]);
    for (const id of ids) expect(((await (await fetch(`${gw.httpUrl}/api/alarms/${id}`)).json()) as { alarm: AlarmJson }).alarm.state).toBe('cleared');
  });

  it('stay cleared after a restart that reads them as the last transition before its window', async () => {
    await advanceRules(gw, clock, 40 * m);
    await restart();
    expect(await smokeAlarms()).toEqual([]);
    await restart();
    expect(await smokeAlarms()).toEqual([]);
  });
});
