/**
 * A Gen2+ Shelly whose status shows both `switch:0` and `light:0` (one channel, two components):
 * a light's command (`lights.set`) goes to the light (`Light.Set`), an HVAC command (a relay driving
 * an appliance) to the switch (`Switch.Set`), whichever component reported last. Before, the last
 * component reported took every command of channel 0: after a NotifyStatus of the relay the light
 * was sent `Switch.Set`, after one of the light the HVAC `Light.Set`.
 *
 * Real gateway, real InfluxDB, real MQTT clients; the device's frames as the Gen2 API has them
 * (NotifyFullStatus at its connection, NotifyStatus of what changed, on `<id>/events/rpc`).
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'shellyplus1pm-aabbcc0077ee';
let gw: TestGateway;
let firmware: MqttClient;
let sensor: MqttClient;

const notify = (method: 'NotifyStatus' | 'NotifyFullStatus', params: object): Promise<unknown> =>
  firmware.publishAsync(`${DEVICE}/events/rpc`, JSON.stringify({ src: DEVICE, dst: `${DEVICE}/events`, method, params: { ts: 1700000000.1, ...params } }), { qos: 1 });

const heard = (): number | undefined => gw.gateway.devices.router.registry.get('shelly', DEVICE)?.messages;

beforeAll(async () => {
  gw = await startWithMap({ actuators: { 'hq/f4/lights': `shelly:${DEVICE}`, 'hq/f4/hvac': `shelly:${DEVICE}` } }, { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } });
  firmware = await connect(gw.mqttUrl, { clientId: 'shelly-both-firmware' });
  sensor = await connect(gw.mqttUrl, { clientId: 'shelly-both-sensors' });
  await notify('NotifyFullStatus', { 'switch:0': { id: 0, source: 'init', output: false, apower: 0, voltage: 230.1 }, 'light:0': { id: 0, source: 'init', output: false, brightness: 50 }, sys: { mac: 'AABBCC0077EE', uptime: 3 } });
  await waitFor(() => heard() === 1, 'its full status read');
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a Shelly Gen2+ channel that is a switch and a light', () => {
  it('a lights command goes to light:0 (Light.Set), though the relay reported last', async () => {
    await notify('NotifyStatus', { 'switch:0': { id: 0, output: false, source: 'button' } });
    await waitFor(() => heard() === 2, 'the relay’s report read');
    const rpc = await collect(sensor, `${DEVICE}/rpc`);
    await sensor.publishAsync('sensors/hq/f4/o1/occupancy', JSON.stringify({ value: true, id: 'f4-o-true' }), { qos: 1 });
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'Light.Set', params: { id: 0, on: true } });
  });

  it('an HVAC command goes to switch:0 (Switch.Set), though the light reported last', async () => {
    await notify('NotifyStatus', { 'light:0': { id: 0, output: true, brightness: 50, source: 'MQTT' } });
    await waitFor(() => heard() === 3, 'the light’s report read');
    const rpc = await collect(sensor, `${DEVICE}/rpc`);
    await sensor.publishAsync('sensors/hq/f4/t1/temperature', JSON.stringify({ value: 30, id: 'f4-t-hot' }), { qos: 1 });
    const call = (await rpc.next((m) => m.json<{ method: string }>().method !== 'Light.Set')).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'Switch.Set', params: { id: 0, on: true } });
  });
});
