/**
 * A home's native devices across the gateway's restart, each a real MQTT client that connects and
 * publishes as its firmware does, with its will (test/e2e/native-home.test.ts says whose code):
 * a Zigbee2MQTT bridge and its climate sensor (availability feature on: `<name>/availability`
 * retained), a Tasmota plug and a Shelly Plus 1 the rules drive as each zone's `hvac` (in the map's
 * `actuators:` only). The rules switch both on; then the devices drop off (their wills: the plug's
 * LWT `Offline`, the Shelly's `online` `false`, the bridge's `bridge/state` offline, while the
 * sensor's own retained availability still says online) and the gateway restarts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const PLUG = 'kitchen_plug';
const SHELLY = 'shellyplus1-a8032abe2f18';
const MAP = {
  devices: { 'zigbee2mqtt:kitchen_climate': { site: 'home', zone: 'kitchen' }, 'esphome:porch-node': { site: 'home', zone: 'porch' } },
  actuators: { 'home/kitchen/hvac': `tasmota:${PLUG}`, 'home/porch/hvac': `shelly:${SHELLY}` },
};

let dataDir: string;
const db = uniqueDb('restart_home');
let gw: TestGateway;
const clients: MqttClient[] = [];

const start = async (): Promise<TestGateway> => (gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } }));

async function devices(): Promise<Record<string, DeviceView>> {
  const body = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: DeviceView[] };
  return Object.fromEntries(body.devices.map((d) => [d.key, d]));
}

/** A client as the firmware connects: its will (retained, QoS 1), then what it publishes at each connection. */
async function firmware(clientId: string, will: [string, string], publishes: [string, string, boolean?][]): Promise<MqttClient> {
  const c = await connect(gw.mqttUrl, { clientId, will: { topic: will[0], payload: Buffer.from(will[1]), qos: 1, retain: true } });
  clients.push(c);
  for (const [topic, payload, retain] of publishes) await c.publishAsync(topic, payload, { qos: 1, retain: retain ?? false });
  return c;
}

/** Tasmota's MqttConnected: LWT Online (retained), `cmnd/<t>/POWER` empty, then each relay's state. */
async function tasmotaPlug(power: 'ON' | 'OFF'): Promise<MqttClient> {
  const plug = await firmware(`DVES_${PLUG}`, [`tele/${PLUG}/LWT`, 'Offline'], [
    [`tele/${PLUG}/LWT`, 'Online', true],
    [`cmnd/${PLUG}/POWER`, ''],
    [`stat/${PLUG}/RESULT`, JSON.stringify({ POWER: power })],
    [`stat/${PLUG}/POWER`, power],
  ]);
  // ExecuteCommandPower: the new state on stat/<t>/RESULT and stat/<t>/POWER.
  plug.on('message', (topic, payload) => {
    if (topic !== `cmnd/${PLUG}/POWER` || payload.length === 0) return;
    const word = payload.toString().toUpperCase();
    plug.publish(`stat/${PLUG}/RESULT`, JSON.stringify({ POWER: word }), { qos: 1 });
    plug.publish(`stat/${PLUG}/POWER`, word, { qos: 1 });
  });
  await plug.subscribeAsync(`cmnd/${PLUG}/#`, { qos: 1 });
  return plug;
}

/** A Shelly Plus 1 (Gen2): `online` true (retained), its switch's status; a Switch.Set answered on `<src>/rpc` and by the new status. */
async function shelly(): Promise<MqttClient> {
  const status = (output: boolean) => JSON.stringify({ id: 0, source: output ? 'MQTT' : 'init', output, temperature: { tC: 47.3, tF: 117.1 } });
  const c = await firmware(SHELLY, [`${SHELLY}/online`, 'false'], [
    [`${SHELLY}/online`, 'true', true],
    [`${SHELLY}/status/switch:0`, status(false)],
  ]);
  c.on('message', (_topic, payload) => {
    const frame = JSON.parse(payload.toString()) as { id: number; src: string; method: string; params: { id: number; on: boolean } };
    if (frame.method !== 'Switch.Set') return;
    c.publish(`${frame.src}/rpc`, JSON.stringify({ id: frame.id, src: SHELLY, dst: frame.src, result: { was_on: !frame.params.on } }), { qos: 1 });
    c.publish(`${SHELLY}/status/switch:0`, status(frame.params.on), { qos: 1 });
  });
  await c.subscribeAsync(`${SHELLY}/rpc`, { qos: 1 });
  return c;
}

async function bridge(): Promise<MqttClient> {
  return firmware('zigbee2mqtt_bridge', ['zigbee2mqtt/bridge/state', '{"state":"offline"}'], [
    ['zigbee2mqtt/bridge/state', '{"state":"online"}', true],
    ['zigbee2mqtt/kitchen_climate/availability', '{"state":"online"}', true],
  ]);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-home-'));
  await start();
  const z2m = await bridge();
  await tasmotaPlug('OFF');
  await shelly();
  const porch = await firmware('porch-node', ['porch-node/status', 'offline'], [['porch-node/status', 'online', true]]);
  // Warm in both zones: the rules switch the plug and the Shelly on (their hvac, cool).
  await z2m.publishAsync('zigbee2mqtt/kitchen_climate', JSON.stringify({ temperature: 29.5, humidity: 41, battery: 97, linkquality: 112 }), { qos: 1 });
  await porch.publishAsync('porch-node/sensor/porch_temperature/state', '29.4', { qos: 1 });
  await waitFor(async () => {
    const d = await devices();
    return d[`tasmota:${PLUG}`]?.actuators['1']?.state === 'on' && d[`shelly:${SHELLY}`]?.actuators['0']?.state === 'on';
  }, 'the plug and the Shelly report on');
  // They drop off: the broker publishes each will.
  for (const c of clients.splice(0)) await c.endAsync(true);
  await waitFor(async () => {
    const d = await devices();
    return d[`tasmota:${PLUG}`]?.online === false && d[`shelly:${SHELLY}`]?.online === false && d['zigbee2mqtt:kitchen_climate']?.online === false;
  }, 'all offline by their wills');
  await gw.stop();
  await start();
});

afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after a restart, before any device speaks again', () => {
  it('each is offline as its retained will says: the Tasmota LWT, the Shelly’s online, the Zigbee2MQTT bridge’s state over its device’s own retained availability', async () => {
    const d = await devices();
    expect(d[`tasmota:${PLUG}`]?.online).toBe(false);
    expect(d[`shelly:${SHELLY}`]?.online).toBe(false);
    expect(d['zigbee2mqtt:kitchen_climate']?.online).toBe(false);
  });
});

describe('what each actuator last reported', () => {
  it('is listed under the channel its reports name (the plug’s relay 1, the Shelly’s switch 0), from the history', async () => {
    const d = await devices();
    expect(d[`tasmota:${PLUG}`]?.actuators).toEqual({ 1: { state: 'on' } });
    expect(d[`shelly:${SHELLY}`]?.actuators).toMatchObject({ 0: { state: 'on' } });
    expect(Object.keys(d[`shelly:${SHELLY}`]?.actuators ?? {})).toEqual(['0']);
  });
});

describe('once they connect again', () => {
  it('each is online again', async () => {
    await bridge();
    await tasmotaPlug('ON');
    await shelly();
    await waitFor(async () => {
      const d = await devices();
      return d[`tasmota:${PLUG}`]?.online === true && d[`shelly:${SHELLY}`]?.online === true && d['zigbee2mqtt:kitchen_climate']?.online === true;
    }, 'all online again');
  });

  it('each actuator is still listed once, as it reports now', async () => {
    await waitFor(async () => (await devices())[`tasmota:${PLUG}`]?.actuators['1']?.state === 'on', 'the plug’s relay reported');
    await waitFor(async () => (await devices())[`shelly:${SHELLY}`]?.actuators['0']?.state === 'off', 'the Shelly’s switch reported (off, as it starts)');
    const d = await devices();
    expect(Object.keys(d[`tasmota:${PLUG}`]?.actuators ?? {})).toEqual(['1']);
    expect(Object.keys(d[`shelly:${SHELLY}`]?.actuators ?? {})).toEqual(['0']);
  });
});
