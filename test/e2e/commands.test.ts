/**
 * A saga per command (issue 11), through a real gateway on a manual clock and simulated contract
 * actuators (real MQTT clients subscribed to exactly their command topic, reporting
 * `devices/<device>/state`): confirmed by the reported state; resent twice, then
 * `actuator_unresponsive` and the state unknown; a late answer confirms with no alarm; a change by
 * hand is a `manual_override` the rules do not fight (unless a rule overrides: smoke). Every step
 * is stored in `command_status`.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { simulateActuator, type SimActuator } from '../../simulators/actuators.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const s = 1000;
let gw: TestGateway;
let clock: ManualClock;
let client: MqttClient;
const actuators: SimActuator[] = [];
let seq = 0;

interface ActuatorJson {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly data?: Record<string, unknown>;
  readonly since?: number | null;
  readonly reported?: Record<string, unknown>;
  readonly status: string;
}

async function publish(topic: string, value: unknown): Promise<string> {
  const id = `c${++seq}`;
  await client.publishAsync(topic, JSON.stringify({ value, id }), { qos: 1 });
  return id;
}

/** Moves the gateway's clock on, letting the rules finish each timer's run before the next. */
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);

async function actuatorView(target: string): Promise<ActuatorJson | undefined> {
  const { actuators: list } = (await (await fetch(`${gw.httpUrl}/api/actuators`)).json()) as { actuators: ActuatorJson[] };
  return list.find((a) => `${a.site}/${a.zone}/${a.actuator}` === target);
}

/** A simulated HVAC whose first report the gateway has taken in (so its commands are tracked). */
async function hvac(site: string, zone: string, behaviour: SimActuator['behaviour']): Promise<SimActuator> {
  const sim = await simulateActuator({ url: gw.mqttUrl, site, zone, actuator: 'hvac', behaviour });
  actuators.push(sim);
  await waitFor(async () => (await actuatorView(`${site}/${zone}/hvac`))?.reported ?? gw.gateway.rules.runtime.commands.reports(`${site}/${zone}/hvac`), `${site}/${zone}/hvac's first report`);
  return sim;
}

async function statuses(zone: string): Promise<[string, number][]> {
  const found = await rows(gw.influxUrl, gw.db, `SELECT "status", "attempt" FROM "command_status" WHERE "zone" = '${zone}'`);
  return found.map((r) => [String(r['status']), Number(r['attempt'])]);
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startGateway({ clock, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: 'commands-test' });
});
afterAll(async () => {
  for (const a of actuators) await a.stop().catch(() => undefined);
  await client?.endAsync();
  await gw?.stop();
});

describe('a command to an actuator that reports its state', () => {
  it('is untracked until the rules command it: a report alone confirms nothing', async () => {
    const quiet = await hvac('hq', 'f9', { kind: 'confirm' });
    // Reported, never commanded: nothing to confirm. The rules hold it to be in the state it
    // reported, since a time they do not know.
    expect(await actuatorView('hq/f9/hvac')).toMatchObject({ status: 'untracked', data: { mode: 'off' }, since: null, reported: { mode: 'off' } });
    await publish('sensors/hq/f9/t9/temperature', 31);
    await quiet.nextCommand();
    await waitFor(async () => (await actuatorView('hq/f9/hvac'))?.status === 'confirmed', 'the confirmation');
  });

  it('is resent twice when ignored, then raises actuator_unresponsive and the rules treat its state as unknown', async () => {
    const ignoring = await hvac('hq', 'f1', { kind: 'ignore' });
    const warnings = await collect(client, 'alerts/hq/warning');
    await publish('sensors/hq/f1/t1/temperature', 31);
    const sent = await ignoring.nextCommand();
    expect(sent.data).toEqual({ mode: 'cool', setpoint: 22 });
    await advance(10 * s);
    expect((await ignoring.nextCommand()).id).toBe(sent.id);
    await advance(20 * s);
    expect((await ignoring.nextCommand()).id).toBe(sent.id);
    await advance(40 * s);
    const unresponsive = (await warnings.next()).json<{ type: string; correlationid: string; data: { message: string } }>();
    expect(unresponsive).toMatchObject({ type: 'actuator.unresponsive', correlationid: sent.id });
    expect(unresponsive.data.message).toContain('hvac in hq/f1 did not confirm');
    expect(ignoring.received).toHaveLength(3);
    const unknown = await actuatorView('hq/f1/hvac');
    expect(unknown?.status).toBe('unresponsive');
    expect(unknown?.data).toBeUndefined();
    await waitFor(async () => (await statuses('f1')).length >= 4, 'the saga in InfluxDB');
    expect(await statuses('f1')).toEqual([
      ['sent', 0],
      ['retried', 1],
      ['retried', 2],
      ['failed', 2],
    ]);
    // The compensation: with its state unknown, the next reading that wants cooling commands it again.
    await publish('sensors/hq/f1/t1/temperature', 31.5);
    const again = await ignoring.nextCommand();
    expect(again.id).not.toBe(sent.id);
    expect(again.data).toEqual({ mode: 'cool', setpoint: 22 });
  });

  it('is confirmed late when the actuator reports exactly the commanded state after actuator_unresponsive: the alarm clears and /api/actuators says confirmed', async () => {
    const slow = await hvac('hq', 'f8', { kind: 'manual' });
    await publish('sensors/hq/f8/t8/temperature', 31);
    const sent = await slow.nextCommand();
    await advance(10 * s);
    await slow.nextCommand();
    await advance(20 * s);
    await slow.nextCommand();
    await advance(40 * s);
    await waitFor(async () => (await actuatorView('hq/f8/hvac'))?.status === 'unresponsive', 'actuator_unresponsive');
    await slow.apply();
    const alarms = async () => ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: { zone: string }[] }).alarms;
    await waitFor(async () => !(await alarms()).some((a) => a.zone === 'f8'), 'the alarm cleared by the report');
    // Not "untracked" (never commanded, or does not report): the report confirms the last command.
    expect(await actuatorView('hq/f8/hvac')).toMatchObject({ status: 'confirmed', data: sent.data, since: clock.now(), reported: sent.data });
    await waitFor(async () => (await statuses('f8')).length >= 5, 'the saga in InfluxDB');
    expect((await statuses('f8')).map(([st]) => st)).toEqual(['sent', 'retried', 'retried', 'failed', 'confirmed']);
  });

  it('is confirmed when the actuator answers late, after a resend, with no alarm', async () => {
    const late = await hvac('hq', 'f2', { kind: 'manual' });
    await publish('sensors/hq/f2/t2/temperature', 31);
    const sent = await late.nextCommand();
    await advance(10 * s);
    expect((await late.nextCommand()).id).toBe(sent.id);
    await late.apply();
    await waitFor(async () => (await actuatorView('hq/f2/hvac'))?.status === 'confirmed', 'the confirmation');
    // Long past the time it would have failed: nothing more was sent, nothing was raised.
    await advance(5 * 60 * s);
    expect(late.received).toHaveLength(2);
    const alarms = (await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: { rule: string; zone: string }[] };
    expect(alarms.alarms.filter((a) => a.zone === 'f2')).toEqual([]);
    await waitFor(async () => (await statuses('f2')).length >= 3, 'the saga in InfluxDB');
    expect(await statuses('f2')).toEqual([
      ['sent', 0],
      ['retried', 1],
      ['confirmed', 1],
    ]);
  });

  it('changed by hand is a manual_override: stored, shown, and the rules leave it alone until the hold ends', async () => {
    const wall = await hvac('hq', 'f3', { kind: 'confirm' });
    const info = await collect(client, 'alerts/hq/info');
    const hvacCommands = await collect(client, 'commands/hq/+/hvac');
    await publish('sensors/hq/f3/t3/temperature', 31);
    const cool = await wall.nextCommand();
    await waitFor(async () => (await actuatorView('hq/f3/hvac'))?.status === 'confirmed', 'the confirmation');
    await wall.change({ mode: 'off' });
    const override = (await info.next()).json<{ type: string; data: { message: string } }>();
    expect(override.type).toBe('actuator.manual-override');
    expect(override.data.message).toContain('hvac in hq/f3 was changed by hand to {"mode":"off"}');
    expect(await actuatorView('hq/f3/hvac')).toMatchObject({ status: 'manual', data: { mode: 'off' }, reported: { mode: 'off' } });
    // Still hot: hvac-cool wants cooling, and is held back; the next HVAC command is f4's.
    const held = await publish('sensors/hq/f3/t3/temperature', 33);
    const marker = await publish('sensors/hq/f4/t4/temperature', 31);
    const next = await hvacCommands.next((m) => m.json<{ correlationid: string }>().correlationid !== cool.correlationid);
    expect(next.json<{ correlationid: string }>().correlationid).toBe(marker);
    expect(wall.received).toHaveLength(1);
    // f4's command came after f3's held-back reading: that reading made none.
    expect(hvacCommands.messages.map((m) => m.json<{ correlationid: string }>().correlationid)).not.toContain(held);
    await waitFor(async () => (await statuses('f3')).some(([st]) => st === 'overridden'), 'the override in InfluxDB');
    expect((await statuses('f3')).map(([st]) => st)).toEqual(['sent', 'confirmed', 'overridden']);
    // MANUAL_HOLD_MS (30 minutes) later the hold ends, and the rules act on the zone again.
    await advance(30 * 60 * s);
    expect((await wall.nextCommand()).data).toEqual({ mode: 'cool', setpoint: 22 });
  });

  it('made by a rule marked override (smoke: HVAC off) is sent even while someone holds the actuator', async () => {
    const plant = await hvac('plant', 'p1', { kind: 'confirm' });
    await publish('sensors/plant/p1/t1/temperature', 31);
    await plant.nextCommand();
    await waitFor(async () => (await actuatorView('plant/p1/hvac'))?.status === 'confirmed', 'the confirmation');
    await plant.change({ mode: 'cool', setpoint: 18 });
    await waitFor(async () => (await actuatorView('plant/p1/hvac'))?.status === 'manual', 'the manual override');
    await publish('sensors/plant/p1/smk-1/smoke', true);
    expect((await plant.nextCommand()).data).toEqual({ mode: 'off' });
  });
});

describe('bad state reports', () => {
  it('are dead letters with a reason: an unknown actuator, a malformed state', async () => {
    const dead = await collect(client, 'gateway/deadletter');
    await client.publishAsync('devices/nobody/state', '{"mode":"off"}', { qos: 1 });
    await client.publishAsync('devices/nobody/state', '{"mode":', { qos: 1 });
    const [unknown, malformed] = await waitFor(() => (dead.messages.length >= 2 ? dead.messages.map((m) => m.json<{ reason: string; detail: string }>()) : undefined), 'two dead letters');
    expect(unknown).toMatchObject({ reason: 'unknown_actuator', detail: expect.stringContaining('subscription to exactly commands/<site>/<zone>/<actuator>') });
    expect(malformed).toMatchObject({ reason: 'invalid_json' });
  });
});
