/**
 * A heat-only radiator valve (Danfoss Ally 014G2461, sold as Hive UK7004240 and Popp 701721) was
 * never turned down: its Zigbee2MQTT climate expose's `system_mode` takes only `heat`, so for HVAC
 * off or cool (summer, a window open, nobody home) the gateway sent nothing
 * (GW_ERR_NATIVE_COMMAND) and the valve went on heating. What Home Assistant and Zigbee2MQTT users
 * do instead is what is sent now: its heating setpoint at its minimum (frost protection), the
 * setpoint feature's `value_min` in the same expose, `{"occupied_heating_setpoint":5}`, with no
 * system_mode. The valve then reports `system_mode: heat` at setpoint 5: that confirms the off,
 * it is not a change by hand.
 *
 * Real gateway, real InfluxDB, a real MQTT client acting as the bridge: `bridge/devices` lists the
 * Ally with the exposes zigbee-herdsman-converters gives it (the fixture's `living_trv`); its
 * `/set` is answered as the valve does, by its state report once the value is one it takes.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandEvent } from '../../gateway/core/events.js';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { count } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const VALVE = 'living_trv';
const SET = `zigbee2mqtt/${VALVE}/set`;

let gw: TestGateway & { mapFile: string };
let clock: ManualClock;
let bridge: MqttClient;
let sensor: MqttClient;
let readingNo = 0;
let reports = 0;
const commands: CommandEvent[] = [];
/** Every `/set` the bridge received, its payload. */
const received: string[] = [];
/**
 * The valve's state as Zigbee2MQTT publishes it (the Ally's own keys). Its local_temperature is a
 * reading of the zone too: kept between the rules' bands (18 to 19 °C) so that only the sensor's
 * readings command.
 */
const valve = { local_temperature: 18.5, occupied_heating_setpoint: 21, system_mode: 'heat', running_state: 'heat', pi_heating_demand: 60, battery: 87, linkquality: 120 };

/** The valve takes system_mode heat and a heating setpoint from 5 to 35 (its expose); anything else Zigbee2MQTT rejects, publishing nothing. */
async function onSet(payload: string): Promise<void> {
  received.push(payload);
  const body = JSON.parse(payload) as Record<string, unknown>;
  const mode = body['system_mode'];
  const setpoint = body['occupied_heating_setpoint'];
  if (mode !== undefined && mode !== 'heat') return;
  if (setpoint !== undefined && (typeof setpoint !== 'number' || setpoint < 5 || setpoint > 35)) return;
  if (typeof setpoint === 'number') valve.occupied_heating_setpoint = setpoint;
  valve.running_state = valve.occupied_heating_setpoint > valve.local_temperature ? 'heat' : 'idle';
  await report();
}

async function report(): Promise<void> {
  await bridge.publishAsync(`zigbee2mqtt/${VALVE}`, JSON.stringify(valve), { qos: 1 });
}

async function temperature(value: number): Promise<void> {
  await sensor.publishAsync('sensors/hq/v1/t-v1/temperature', JSON.stringify({ value, id: `v1-${++readingNo}` }), { qos: 1 });
}

async function statuses(): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = 'v1' AND "actuator" = 'hvac'`)).map((r) => String(r['status']));
}

/** The saga's whole time (the confirmation time, then twice and four times it). */
async function pastTheSaga(): Promise<void> {
  for (const ms of [10_000, 20_000, 40_000]) await advanceRules(gw, clock, ms);
}

const alarms = () => gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === 'v1').map((a) => a.rule);

/** A command from the rules, its `/set` (returned), the valve's report, and the saga's end. */
async function command(reading: number): Promise<{ command: CommandEvent; set: string }> {
  const [n, sets, heard, steps] = [commands.length, received.length, reports, (await statuses()).length];
  await temperature(reading);
  await waitFor(() => commands.length > n, 'the rules’ command');
  await waitFor(() => received.length > sets, 'the valve’s /set');
  await waitFor(() => reports > heard, 'the valve’s report after it');
  await pastTheSaga();
  await waitFor(async () => (await statuses()).length >= steps + 2, 'the saga’s end');
  return { command: commands[n]!, set: received[sets]! };
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  // rules-simple: cool above 26 °C, heat below 18 °C, off from 19 to 24 °C; no minimum on/off time.
  gw = await startWithMap({ actuators: { 'hq/v1/hvac': `zigbee2mqtt:${VALVE}` } }, { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-simple'), env: { STATS_INTERVAL_MS: '0' } });
  gw.gateway.bus.on('actuatorState', (e) => void (e.zone === 'v1' && reports++));
  gw.gateway.bus.on('command', (c) => void (c.zone === 'v1' && commands.push(c)));
  sensor = await connect(gw.mqttUrl, { clientId: 'trv-sensor' });
  bridge = await connect(gw.mqttUrl, { clientId: 'trv-bridge' });
  bridge.on('message', (topic, payload) => void (topic === SET && onSet(payload.toString())));
  await bridge.subscribeAsync(SET, { qos: 1 });
  const recognised = () => count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt', outcome: 'recognised' });
  const before = await recognised();
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(), { qos: 1, retain: true });
  await waitFor(async () => (await recognised()) >= before + 2, 'bridge/devices taken in');
  // Heating, as at connection.
  await report();
  await waitFor(() => reports === 1, 'the valve’s state at connection');
});
afterAll(async () => {
  await bridge?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a heat-only valve (Danfoss Ally: system_mode heat only, heating setpoint 5 to 35)', () => {
  it('told to cool, is sent its heating setpoint at its minimum, no system_mode, logged with the command’s id; its report at 5 confirms it', async () => {
    const { command: c, set } = await command(30);
    expect(c.cloudEvent.data).toEqual({ mode: 'cool', setpoint: 22 });
    expect(set).toBe('{"occupied_heating_setpoint":5}');
    expect(gw.logs.find((l) => l.level === 30 && l['commandId'] === c.id && l['asked'] === 'cool')).toMatchObject({ target: 'hq/v1/hvac', sent: { occupied_heating_setpoint: 5 } });
    expect(gw.logs.filter((l) => l['code'] === 'GW_ERR_NATIVE_COMMAND')).toEqual([]);
    expect(await statuses()).toEqual(['sent', 'confirmed']);
    expect(alarms()).toEqual([]);
  });

  it('told to heat, is sent heat at the rules’ setpoint (back up from its minimum)', async () => {
    const { set } = await command(12);
    expect(set).toBe('{"system_mode":"heat","occupied_heating_setpoint":21}');
    expect((await statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
  });

  it('told off, is sent its minimum; its report {"system_mode":"heat","occupied_heating_setpoint":5} confirms the off, and a later report at 5 is no change by hand', async () => {
    const { command: c, set } = await command(21);
    expect(c.cloudEvent.data).toEqual({ mode: 'off' });
    expect(set).toBe('{"occupied_heating_setpoint":5}');
    expect((await statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
    // The valve reports again (the room cooled a little): still at its minimum, still heat.
    const heard = reports;
    valve.local_temperature = 18.6;
    await report();
    await waitFor(() => reports > heard, 'the valve’s later report');
    await pastTheSaga();
    expect(await statuses()).not.toContain('overridden');
    expect(alarms()).toEqual([]);
    expect(gw.gateway.rules.runtime.alarms.active().filter((a) => a.rule === 'manual_override')).toEqual([]);
  });
});
