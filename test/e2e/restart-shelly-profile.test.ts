/**
 * A Gen2+ Shelly whose profile changed is commanded as it is now, across the gateway's restart: a
 * Plus RGBW PM switched from its light profile (light:0…light:3) to rgbw (rgbw:0) restarts and its
 * NotifyFullStatus lists rgbw:0 and no light:0 any more (Shelly Gen2 API, Devices/Gen2/ShellyPlusRGBWPM):
 * `lights.set` goes as RGBW.Set, whether the change came before the gateway's restart or after it.
 * A Pro 2PM switched to cover (cover:0) keeps nothing of its switches. Before, what the gateway
 * learnt and retained only grew (`{"0":["light","rgbw"]}`): Light.Set, which the device refuses
 * ("No handler for Light.Set"), for good.
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB, real MQTT clients.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

/** Its profile changed while the gateway was down. */
const AFTER = 'shellyplusrgbwpm-aabbcc0055aa';
/** Its profile changed before the gateway's restart. */
const BEFORE = 'shellyplusrgbwpm-aabbcc0055bb';
const PRO = 'shellypro2pm-aabbcc0055cc';
const MAP = { actuators: { 'hq/f8/lights': `shelly:${AFTER}`, 'hq/f6/lights': `shelly:${BEFORE}`, 'hq/f5/hvac': `shelly:${PRO}` } };

let dataDir: string;
const db = uniqueDb('restart_shelly_profile');
let gw: TestGateway;
let firmware: MqttClient;
let sensor: MqttClient;

const light = (n: number) => ({ [`light:${n}`]: { id: n, source: 'init', output: false, brightness: 100, temperature: { tC: 30.1, tF: 86.2 } } });
const LIGHT_PROFILE = { ...light(0), ...light(1), ...light(2), ...light(3), 'input:0': { id: 0, state: false }, sys: { uptime: 2 } };
const RGBW_PROFILE = { 'rgbw:0': { id: 0, source: 'init', output: false, rgb: [255, 255, 255], brightness: 100, white: 0, apower: 0 }, 'input:0': { id: 0, state: false }, sys: { uptime: 2 } };
const full = (id: string, params: object): Promise<unknown> =>
  firmware.publishAsync(`${id}/events/rpc`, JSON.stringify({ src: id, dst: `${id}/events`, method: 'NotifyFullStatus', params: { ts: 1700000001.5, ...params } }), { qos: 1 });
const heard = (id: string): number => gw.gateway.devices.router.registry.get('shelly', id)?.messages ?? 0;
const start = async (): Promise<void> => {
  gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } });
  firmware = await connect(gw.mqttUrl, { clientId: 'shelly-profile-firmware' });
};
const occupancy = (zone: string): Promise<unknown> => sensor.publishAsync(`sensors/hq/${zone}/o1/occupancy`, JSON.stringify({ value: true, id: `${zone}-o-true` }), { qos: 1 });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-shelly-profile-'));
  await start();
  await full(AFTER, LIGHT_PROFILE);
  await full(BEFORE, LIGHT_PROFILE);
  await full(BEFORE, RGBW_PROFILE);
  await full(PRO, { 'switch:0': { id: 0, source: 'init', output: false, apower: 0 }, 'switch:1': { id: 1, source: 'init', output: false, apower: 0 }, sys: { uptime: 2 } });
  await full(PRO, { 'cover:0': { id: 0, source: 'init', state: 'stopped', apower: 0, current_pos: 50 }, 'input:0': { id: 0, state: false }, sys: { uptime: 2 } });
  await waitFor(() => heard(AFTER) === 1 && heard(BEFORE) === 2 && heard(PRO) === 2, 'the full statuses read');
  await firmware.endAsync();
  await gw.stop();
  await start();
  const seen = heard(AFTER);
  await full(AFTER, RGBW_PROFILE);
  await waitFor(() => heard(AFTER) > seen, 'its full status after the restart read');
  sensor = await connect(gw.mqttUrl, { clientId: 'shelly-profile-sensors' });
});

afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a Shelly Gen2+ whose profile changed, and the gateway’s restart', () => {
  it('changed while the gateway was down (its light:0 kept): its lights are sent RGBW.Set', async () => {
    const rpc = await collect(sensor, `${AFTER}/rpc`);
    await occupancy('f8');
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'RGBW.Set', params: { id: 0, on: true } });
  });

  it('changed before the restart: what was kept is its rgbw:0 alone, its lights are sent RGBW.Set', async () => {
    expect(Object.fromEntries(gw.gateway.devices.router.learnt.shellyOutputs(BEFORE) ?? [])).toEqual({ 0: ['rgbw'] });
    const rpc = await collect(sensor, `${BEFORE}/rpc`);
    await occupancy('f6');
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'RGBW.Set', params: { id: 0, on: true } });
  });

  it('a Pro 2PM switched to cover: nothing of its switches was kept', () => {
    expect(gw.gateway.devices.router.learnt.shellyOutputs(PRO)).toBeUndefined();
  });
});
