/**
 * Two Zigbee2MQTT bridges on one gateway, each with its own bridge credential and base topic (the
 * garage's `z2m_garage`). A bridge's `bridge/state` spoke for every Zigbee2MQTT device (a reviewer):
 * the garage bridge going offline took the house's devices offline too, stored so, and the house
 * bridge saying online brought the garage's back while their bridge was still offline. A bridge now
 * speaks for the devices heard through it only.
 *
 * Real gateway with credentials, real InfluxDB, real mqtt clients as the two bridges.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import { addCredentials } from '../helpers/auth.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { count } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const MAP = { devices: { 'zigbee2mqtt:house_pir': { site: 'hq', zone: 'f1' }, 'zigbee2mqtt:garage_pir': { site: 'hq', zone: 'g1' } } };
let gw: TestGateway;
let house: MqttClient;
let garage: MqttClient;
let auth = '';

const online = async (): Promise<Record<string, boolean | null>> => {
  const d = (await (await fetch(`${gw.httpUrl}/api/devices`, { headers: { authorization: auth } })).json()) as { devices: DeviceView[] };
  return Object.fromEntries(d.devices.filter((x) => x.nativeId.endsWith('_pir')).map((x) => [x.nativeId, x.online]));
};
const stored = async (device: string): Promise<unknown[]> => (await rows(gw.influxUrl, gw.db, `SELECT online FROM device_status WHERE device = '${device}'`)).map((r) => r['online']);
const taken = () => count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt' });

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-test-two-bridges-'));
  const secrets = await addCredentials(dataDir, [{ name: 'ops', role: 'admin' }, { name: 'z2m-house', role: 'bridge' }, { name: 'z2m-garage', role: 'bridge', base: 'z2m_garage' }]);
  auth = `Basic ${Buffer.from(`ops:${secrets['ops']}`).toString('base64')}`;
  gw = await startWithMap(MAP, { dataDir, env: { STATS_INTERVAL_MS: '0' } });
  house = await connect(gw.mqttUrl, { username: 'z2m-house', password: secrets['z2m-house'], clientId: 'zigbee2mqtt_house' });
  garage = await connect(gw.mqttUrl, { username: 'z2m-garage', password: secrets['z2m-garage'], clientId: 'zigbee2mqtt_garage' });
  await house.publishAsync('zigbee2mqtt/bridge/state', '{"state":"online"}', { qos: 1, retain: true });
  await garage.publishAsync('z2m_garage/bridge/state', '{"state":"online"}', { qos: 1, retain: true });
  await house.publishAsync('zigbee2mqtt/house_pir', JSON.stringify({ occupancy: false, battery: 100 }), { qos: 1 });
  await garage.publishAsync('z2m_garage/garage_pir', JSON.stringify({ occupancy: false, battery: 100 }), { qos: 1 });
  await waitFor(async () => Object.keys(await online()).length === 2, 'both devices listed');
}, 60_000);

afterAll(async () => {
  await house?.endAsync();
  await garage?.endAsync();
  await gw?.stop();
});

describe('two Zigbee2MQTT bridges', () => {
  it('each bridge going offline and online speaks for its own devices only', async () => {
    expect(await online()).toEqual({ house_pir: true, garage_pir: true });
    await garage.publishAsync('z2m_garage/bridge/state', '{"state":"offline"}', { qos: 1, retain: true });
    await waitFor(async () => (await stored('garage_pir')).includes(false), 'the garage device stored offline');
    expect(await online()).toEqual({ house_pir: true, garage_pir: false });
    expect(await stored('house_pir')).not.toContain(false);

    const before = await taken();
    await house.publishAsync('zigbee2mqtt/bridge/state', '{"state":"online"}', { qos: 1, retain: true });
    await waitFor(async () => (await taken()) > before, 'the house bridge online taken in');
    expect(await online()).toEqual({ house_pir: true, garage_pir: false });
  });
});
