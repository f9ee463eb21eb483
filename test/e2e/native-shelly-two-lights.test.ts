/**
 * A Shelly Pro RGBWW PM in its `rgbx2light` profile has rgb:0 beside light:0 and light:1 (Shelly
 * Gen2 API, Devices/Gen2/ShellyProRGBWWPM): a plain lights command to channel 0 goes to the white
 * light (Light.Set), one whose data has an `rgb` to the colour one (RGB.Set), whichever component
 * reported last. Before, the latest light seen replaced the other: the plain command went as RGB.Set
 * after rgb:0 reported, the colour one as Light.Set after light:0 reported.
 *
 * Real gateway, real InfluxDB, real MQTT clients; the device's frames as the Gen2 API has them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'shellyprorgbwwpm-aabbcc0088ff';
const lightsSet = (name: string, kind: string, value: unknown, data: object) => ({
  name,
  kinds: [kind],
  conditions: { all: [{ fact: 'value', operator: 'equal', value }] },
  event: { type: 'command', params: { actuator: 'lights', type: 'lights.set', data } },
});
const RULES = {
  name: 'two-lights',
  description: 'A plain lights command (occupancy) and a colour one (a contact opened) to one Shelly channel.',
  rules: [lightsSet('white-on', 'occupancy', true, { state: 'on', brightness: 80 }), lightsSet('colour-on', 'contact', true, { state: 'on', rgb: [255, 0, 0] })],
};
let rulesDir: string;
let gw: TestGateway;
let firmware: MqttClient;
let sensor: MqttClient;

const notify = (method: 'NotifyStatus' | 'NotifyFullStatus', params: object): Promise<unknown> =>
  firmware.publishAsync(`${DEVICE}/events/rpc`, JSON.stringify({ src: DEVICE, dst: `${DEVICE}/events`, method, params: { ts: 1700000000.1, ...params } }), { qos: 1 });
const heard = (): number | undefined => gw.gateway.devices.router.registry.get('shelly', DEVICE)?.messages;
const rgb = { 'rgb:0': { id: 0, source: 'init', output: false, rgb: [255, 120, 0], brightness: 60, apower: 0 } };
const light = (n: number) => ({ [`light:${n}`]: { id: n, source: 'init', output: false, brightness: 100, apower: 0 } });

beforeAll(async () => {
  rulesDir = await mkdtemp(join(tmpdir(), 'gw-shelly-two-lights-'));
  await writeFile(join(rulesDir, 'two-lights.json'), JSON.stringify(RULES));
  gw = await startWithMap({ actuators: { 'hq/f9/lights': `shelly:${DEVICE}`, 'hq/f10/lights': `shelly:${DEVICE}` } }, { rulesDir, env: { STATS_INTERVAL_MS: '0' } });
  firmware = await connect(gw.mqttUrl, { clientId: 'shelly-two-lights-firmware' });
  sensor = await connect(gw.mqttUrl, { clientId: 'shelly-two-lights-sensors' });
  await notify('NotifyFullStatus', { ...light(0), ...rgb, ...light(1), 'input:0': { id: 0, state: false }, sys: { mac: 'AABBCC0088FF', uptime: 3 } });
  await waitFor(() => heard() === 1, 'its full status read');
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
  await rm(rulesDir, { recursive: true, force: true });
});

describe('a Pro RGBWW PM in rgbx2light: rgb:0 and light:0 on channel 0', () => {
  it('a plain lights command goes to light:0 (Light.Set), though rgb:0 reported last', async () => {
    await notify('NotifyStatus', { 'rgb:0': { id: 0, output: false, source: 'button' } });
    await waitFor(() => heard() === 2, 'the rgb report read');
    const rpc = await collect(sensor, `${DEVICE}/rpc`);
    await sensor.publishAsync('sensors/hq/f9/o1/occupancy', JSON.stringify({ value: true, id: 'f9-o-true' }), { qos: 1 });
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'Light.Set', params: { id: 0, on: true } });
  });

  it('a lights command with a colour goes to rgb:0 (RGB.Set), though light:0 reported last', async () => {
    await notify('NotifyStatus', { 'light:0': { id: 0, output: true, brightness: 80, source: 'MQTT' } });
    await waitFor(() => heard() === 3, 'the light report read');
    const rpc = await collect(sensor, `${DEVICE}/rpc`);
    await sensor.publishAsync('sensors/hq/f10/d1/contact', JSON.stringify({ value: true, id: 'f10-d-open' }), { qos: 1 });
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'RGB.Set', params: { id: 0, on: true } });
  });
});
