/**
 * An operator's clear (`"clear": true`) of a smoke alarm whose detector was removed: the rules
 * forget the detector's latest readings, so the shipped HVAC rules (`anyInSite` smoke equal false)
 * heat the site again, across a restart too; once the detector speaks again it counts as usual.
 * A real gateway on a manual clock, real MQTT clients, restarted on the same DATA_DIR and database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const s = 1000;
const db = uniqueDb('clear_forgets');
let parent: string;
let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
let client: MqttClient;
let hvac: Awaited<ReturnType<typeof collect>>;
let seq = 0;
let firstAlarm = '';

interface AlarmJson {
  id: string;
  rule: string;
  device: string;
  state: string;
}

async function publish(topic: string, value: unknown): Promise<string> {
  const id = `r${++seq}`;
  await client.publishAsync(topic, JSON.stringify({ value, id }), { qos: 1 });
  return id;
}

const smokeAlarms = async (): Promise<AlarmJson[]> => ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms.filter((a) => a.rule === 'smoke-alarm');
const heat = (zone: string) => (msg: Received) => msg.topic === `commands/hq/${zone}/hvac` && msg.json<{ data: { mode: string } }>().data.mode === 'heat';

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: `clear-forgets-${++seq}` });
  hvac = await collect(client, 'commands/+/+/hvac');
}

async function restart(): Promise<void> {
  const at = clock.now();
  await client.endAsync();
  await gw.stop();
  await start(at);
}

/**
 * Whether a 15 °C reading in hq/<zone> is blocked: a marker in another site (lab, no smoke) is
 * judged after it, in arrival order; its heat command arrives and none came for hq/<zone> before it.
 */
async function blocked(zone: string, marker: string): Promise<boolean> {
  await publish(`sensors/hq/${zone}/t-${zone}/temperature`, 15);
  await publish(`sensors/lab/${marker}/t-${marker}/temperature`, 15);
  await hvac.next((msg) => msg.topic === `commands/lab/${marker}/hvac`);
  return !hvac.messages.some(heat(zone));
}

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'gw-clear-forgets-'));
  dataDir = join(parent, 'data');
  await start(Date.now());
});

afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(parent, { recursive: true, force: true });
});

describe('an operator clears the smoke alarm of a detector removed in alarm', () => {
  it('blocks HVAC while the alarm stands; once cleared, a 15 °C reading in the site heats', async () => {
    await publish('sensors/hq/k1/sd5/smoke', true);
    const [alarm] = await waitFor(async () => {
      const list = await smokeAlarms();
      return list.length === 1 ? list : undefined;
    }, 'the smoke alarm raised');
    firstAlarm = alarm!.id;
    await advanceRules(gw, clock, s);
    expect(await blocked('f0', 'l0')).toBe(true);
    await advanceRules(gw, clock, s);
    const res = await fetch(`${gw.httpUrl}/api/alarms/${firstAlarm}/ack`, { method: 'POST', body: JSON.stringify({ by: 'ops', note: 'sd5 removed', clear: true }) });
    expect(res.status).toBe(200);
    expect(await smokeAlarms()).toEqual([]);
    await advanceRules(gw, clock, s);
    const cold = await publish('sensors/hq/f1/t-f1/temperature', 15);
    const cmd = await hvac.next(heat('f1'));
    expect(cmd.json()).toMatchObject({ source: 'rules/hvac-heat', correlationid: cold, data: { mode: 'heat', setpoint: 21 } });
    const said = await waitFor(() => gw.logs.find((l) => l.level === 30 && l['alarmId'] === firstAlarm && l['device'] === 'sd5' && Array.isArray(l['kinds'])), 'the forgetting logged');
    expect(said).toMatchObject({ site: 'hq', zone: 'k1', kinds: ['smoke'] });
  });

  it('still holds after a restart that replays the smoke reading and then the clear', async () => {
    await waitFor(async () => (await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "transition" = 'cleared'`)).length === 1, 'the clear stored');
    await advanceRules(gw, clock, s);
    await restart();
    expect(await smokeAlarms()).toEqual([]);
    const cold = await publish('sensors/hq/f2/t-f2/temperature', 15);
    expect((await hvac.next(heat('f2'))).json()).toMatchObject({ source: 'rules/hvac-heat', correlationid: cold });
    // The rebuild replayed the clear after the smoke reading, and said so.
    expect(gw.logs.find((l) => l['alarmId'] === firstAlarm && l['replayed'] === true)).toMatchObject({ level: 30, device: 'sd5', kinds: ['smoke'] });
  });

  it('counts the detector again once it speaks: smoke again raises a new alarm and blocks HVAC, across a restart too', async () => {
    await advanceRules(gw, clock, s);
    await publish('sensors/hq/k1/sd5/smoke', true);
    const [again] = await waitFor(async () => {
      const list = await smokeAlarms();
      return list.length === 1 ? list : undefined;
    }, 'a new smoke alarm raised');
    expect(again!.id).not.toBe(firstAlarm);
    await advanceRules(gw, clock, s);
    expect(await blocked('f3', 'l3')).toBe(true);
    await advanceRules(gw, clock, s);
    await restart();
    expect((await smokeAlarms()).map((a) => a.id)).toEqual([again!.id]);
    expect(await blocked('f4', 'l4')).toBe(true);
  });
});
