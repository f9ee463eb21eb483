/**
 * A heat-only radiator valve (Danfoss Ally: system_mode heat only) is turned down to its lowest
 * heating setpoint for off (native-heat-only-valve.test.ts). A rule that then commands `heat`
 * without a setpoint (the valve was to keep its own) sent `{"system_mode":"heat"}` alone: the valve
 * stayed at 5 °C, the room cold. It is sent back the setpoint it reported before it was turned
 * down.
 *
 * Real gateway, real InfluxDB, a real MQTT client as the bridge (the fixture's `living_trv`, the
 * exposes zigbee-herdsman-converters gives the Ally), answering each `/set` as the valve does.
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
  // cool above 26 °C, heat below 18 °C without a setpoint, off from 19 to 24 °C; no minimum on/off time.
  gw = await startWithMap({ actuators: { 'hq/v1/hvac': `zigbee2mqtt:${VALVE}` } }, { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-heat-no-setpoint'), env: { STATS_INTERVAL_MS: '0' } });
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

describe('a heat-only valve turned down, then told to heat without a setpoint', () => {
  it('is sent heat with the setpoint it had before the turn-down (21), not left at its minimum', async () => {
    const down = await command(21);
    expect(down.command.cloudEvent.data).toEqual({ mode: 'off' });
    expect(down.set).toBe('{"occupied_heating_setpoint":5}');
    const up = await command(12);
    expect(up.command.cloudEvent.data).toEqual({ mode: 'heat' });
    expect(up.set).toBe('{"system_mode":"heat","occupied_heating_setpoint":21}');
    expect(valve.occupied_heating_setpoint).toBe(21);
    expect((await statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
  });
});
