/**
 * What a device is follows the device, not the actuator entry that names it: an ESPHome node
 * (discovery off) that reported an on/off state on `<node>/switch/<id>/state`, and a Zigbee2MQTT
 * plug its bridge does not list that reported a `state` without `system_mode`, are switches
 * (README "Drive actuators"). Moving their actuator entries to another zone in the device map (the
 * map reloads on the file's change) keeps them switches: the moved actuator is switched on, not
 * sent a thermostat's mode and setpoint.
 *
 * Real gateway, real InfluxDB, real MQTT clients on the firmware's own topics.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const ESPHOME = { device: 'esphome:f5-node', channel: 'heater' };
const Z2M = 'zigbee2mqtt:f6_plug';
const BEFORE = { actuators: { 'hq/f5/hvac': ESPHOME, 'hq/f6/hvac': Z2M } };
const AFTER = { actuators: { 'hq/f10/hvac': ESPHOME, 'hq/f11/hvac': Z2M } };

let gw: TestGateway & { mapFile: string };
let firmware: MqttClient;

async function forms(): Promise<Record<string, string>> {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { actuators: { target: string; form: string }[] };
  return Object.fromEntries(api.actuators.map((a) => [a.target, a.form]));
}

beforeAll(async () => {
  gw = await startWithMap(BEFORE, { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug'), env: { STATS_INTERVAL_MS: '0' } });
  firmware = await connect(gw.mqttUrl, { clientId: 'f5-node' });
  // Each says its on/off state: a switch by what it reported.
  await firmware.publishAsync('f5-node/switch/heater/state', 'OFF', { qos: 1 });
  await firmware.publishAsync('zigbee2mqtt/f6_plug', JSON.stringify({ state: 'OFF', power: 0 }), { qos: 1 });
  await waitFor(async () => {
    const f = await forms();
    return f['hq/f5/hvac'] === 'switch' && f['hq/f6/hvac'] === 'switch';
  }, 'both learnt to be switches');
  await writeFile(gw.mapFile, stringify(AFTER));
  await waitFor(async () => Object.keys(await forms()).sort().join() === 'hq/f10/hvac,hq/f11/hvac', 'the moved entries in force');
});

afterAll(async () => {
  await firmware?.endAsync();
  await gw?.stop();
});

describe('an actuator entry moved to another zone in the device map', () => {
  it('keeps what its device is: a switch', async () => {
    expect(await forms()).toEqual({ 'hq/f10/hvac': 'switch', 'hq/f11/hvac': 'switch' });
  });

  it('is switched on for a mode, in its firmware’s own words, not sent a thermostat’s mode and setpoint', async () => {
    const commands = await collect(firmware, ['f5-node/#', 'zigbee2mqtt/f6_plug/set']);
    const sensor = await connect(gw.mqttUrl, { clientId: 'f10-sensor' });
    for (const zone of ['f10', 'f11']) await sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value: 30, id: `${zone}-hot` }), { qos: 1 });
    await sensor.endAsync();
    await waitFor(() => commands.messages.some((m) => m.topic.startsWith('f5-node/')) && commands.messages.some((m) => m.topic === 'zigbee2mqtt/f6_plug/set'), 'both commands');
    expect(commands.messages.map((m) => `${m.topic} ${m.payload}`).sort()).toEqual(['f5-node/switch/heater/command ON', 'zigbee2mqtt/f6_plug/set {"state":"ON"}']);
  });
});
