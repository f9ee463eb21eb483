/**
 * Zigbee2MQTT sends numbers in the unit its device's expose says, and says it in the retained
 * `bridge/devices`: a battery device's `voltage` is in mV (zigbee-herdsman-converters exposes.ts
 * `battery_voltage`, an Aqara door sensor's `{"battery":100,"contact":false,"voltage":3025}`), a
 * plug's in V (`voltage`, 230.1). The device map's `voltage` kind is in V (max 1000): the battery's
 * is stored as 3.025 V, not dead-lettered (`voltage is 3025: value must be <= 1000`), the plug's as
 * 230.1; an entry's own `scale:` still says it alone. After the gateway's restart the retained
 * bridge/devices (relearn.ts) says it again before the device speaks.
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB, real MQTT clients as the
 * bridge; exposes as zigbee-herdsman-converters gives them (fixtures/native/zigbee2mqtt-bridge-devices.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeDevices, bridgeDevicesPayload, unitDevices } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { count } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const MAP = {
  kinds: { voltage: { unit: 'V', type: 'number', min: 0, max: 1000 } },
  devices: {
    'zigbee2mqtt:door_f2': { site: 'hq', zone: 'f2' },
    'zigbee2mqtt:kitchen_plug': { site: 'hq', zone: 'f2' },
    // The example's entry: its own scale, which the unit must not apply a second time.
    'zigbee2mqtt:door_f1': { site: 'hq', zone: 'f1', device: 'door-1', keys: { voltage: { kind: 'voltage', scale: 0.001 }, linkquality: 'ignore' } },
  },
};

let dataDir: string;
const db = uniqueDb('z2m_units');
let gw: TestGateway;
let bridge: MqttClient;
let letters: { messages: Received[] };

async function start(): Promise<void> {
  gw = await startWithMap(MAP, { dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  const watcher = await connect(gw.mqttUrl, { clientId: 'z2m-units-watcher' });
  letters = await collect(watcher, 'gateway/deadletter');
  bridge = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge' });
}

const voltage = (device: string) => rows(gw.influxUrl, gw.db, `SELECT value FROM voltage WHERE device = '${device}'`).then((r) => r.map((x) => x['value']));
const door = (volts: number) => JSON.stringify({ battery: 100, contact: false, device_temperature: 27, linkquality: 87, power_outage_count: 2, trigger_count: 5, voltage: volts });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-z2m-units-'));
  await start();
  // door_f1: another Aqara door sensor, as door_f2 (its own entry, ieee_address).
  const aqara = unitDevices().find((d) => d['friendly_name'] === 'door_f2')!;
  const devices = [...bridgeDevices(), ...unitDevices(), { ...aqara, friendly_name: 'door_f1', ieee_address: '0x00158d0004a1b2c4' }];
  const before = await count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt', outcome: 'recognised' });
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(devices), { qos: 1, retain: true });
  await waitFor(async () => (await count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt', outcome: 'recognised' })) >= before + 2, 'bridge/devices taken in');
});

afterAll(async () => {
  await bridge?.endAsync();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('Zigbee2MQTT voltage in the unit bridge/devices gives it', () => {
  it('a battery device’s mV is stored in the kind’s V, a plug’s V as it is, an entry’s own scale once', async () => {
    await bridge.publishAsync('zigbee2mqtt/door_f2', door(3025), { qos: 1 });
    await bridge.publishAsync('zigbee2mqtt/kitchen_plug', JSON.stringify({ child_lock: 'UNLOCK', current: 0.05, energy: 1.23, indicator_mode: 'off/on', linkquality: 120, power: 11, power_outage_memory: 'restore', state: 'ON', voltage: 230.1 }), { qos: 1 });
    await bridge.publishAsync('zigbee2mqtt/door_f1', door(2995), { qos: 1 });
    await waitFor(async () => (await voltage('door_f2')).length > 0 || letters.messages.length > 0, 'door_f2’s voltage stored or dead-lettered');
    expect(letters.messages.map((m) => JSON.parse(m.payload) as { detail?: string }).map((l) => l.detail)).toEqual([]);
    expect(await voltage('door_f2')).toEqual([3.025]);
    await waitFor(async () => (await voltage('kitchen_plug')).length > 0 && (await voltage('door-1')).length > 0, 'the plug’s and door-1’s voltage stored');
    expect(await voltage('kitchen_plug')).toEqual([230.1]);
    expect(await voltage('door-1')).toEqual([2.995]);
  });

  it('after a restart, the retained bridge/devices says it again before the device speaks', async () => {
    await bridge.endAsync();
    await gw.stop();
    await start();
    await bridge.publishAsync('zigbee2mqtt/door_f2', door(3015), { qos: 1 });
    await waitFor(async () => (await voltage('door_f2')).length > 1 || letters.messages.length > 0, 'door_f2’s second voltage stored or dead-lettered');
    expect(letters.messages.map((m) => m.payload)).toEqual([]);
    expect(await voltage('door_f2')).toEqual([3.025, 3.015]);
  });
});
