/**
 * A home's native devices, each a real MQTT client connecting and publishing as its firmware
 * does, through a real gateway with a device map:
 *
 * - a Zigbee2MQTT bridge (lib/mqtt.ts: will `bridge/state` `{"state":"offline"}` retained, then
 *   `{"state":"online"}` retained, `bridge/info`, `bridge/devices`, `bridge/logging`) with a
 *   climate sensor, its availability retained (lib/extension/availability.ts);
 * - a Tasmota plug (xdrv_02_9_mqtt.ino MqttReconnect / MqttConnected: will `tele/<t>/LWT`
 *   `Offline` retained, `Online` retained, `cmnd/<t>/POWER` empty, then `stat/<t>/RESULT` and
 *   `stat/<t>/POWER` per relay);
 * - a Shelly Plus 1 (Gen2: `<prefix>/online` `true`, will `false`; `<prefix>/status/switch:0`);
 * - ESPHome nodes (`<node>/status` birth `online`, will `offline`, both retained; states on
 *   `<node>/<component>/<object id>/state`).
 *
 * The Tasmota plug, the Shelly and one ESPHome node are in the map's `actuators:` only.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import type { DeviceState, LiveSnapshot } from '../../gateway/http/live.js';
import type { TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const PLUG = 'kitchen_plug';
const SHELLY = 'shellyplus1-a8032abe2f18';
const MAP = {
  devices: {
    'zigbee2mqtt:kitchen_climate': { site: 'home', zone: 'kitchen' },
    'esphome:porch-node': { site: 'home', zone: 'porch' },
  },
  actuators: {
    'home/kitchen/hvac': `tasmota:${PLUG}`,
    'home/porch/hvac': `shelly:${SHELLY}`,
    'home/hall/lights': { device: 'esphome:hall-node', channel: 'relay' },
  },
};

let gw: TestGateway;
const clients: MqttClient[] = [];
/** The RPC frames the Shelly got on `<prefix>/rpc`. */
const frames: { id: unknown; src: string; method: string; params: { id: number; on: boolean } }[] = [];

async function device(clientId: string, will: { topic: string; payload: string }, publishes: [string, string, boolean?][]): Promise<MqttClient> {
  const c = await connect(gw.mqttUrl, { clientId, will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true } });
  clients.push(c);
  for (const [topic, payload, retain] of publishes) await c.publishAsync(topic, payload, { qos: 1, retain: retain ?? false });
  return c;
}

async function live(): Promise<Record<string, DeviceState>> {
  const snapshot = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
  return Object.fromEntries(snapshot.devices.map((d) => [d.device, d]));
}

beforeAll(async () => {
  gw = await startWithMap(MAP, { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } });
  await device('zigbee2mqtt_bridge', { topic: 'zigbee2mqtt/bridge/state', payload: '{"state":"offline"}' }, [
    ['zigbee2mqtt/bridge/state', '{"state":"online"}', true],
    ['zigbee2mqtt/bridge/info', JSON.stringify({ version: '2.6.0', coordinator: { type: 'zStack3x0' }, config: { advanced: { output: 'json' } } }), true],
    ['zigbee2mqtt/bridge/devices', JSON.stringify([{ friendly_name: 'Coordinator', type: 'Coordinator', definition: null }, { friendly_name: 'kitchen_climate', type: 'EndDevice', definition: { model: 'WSDCGQ11LM', exposes: [] } }]), true],
    ['zigbee2mqtt/bridge/logging', JSON.stringify({ level: 'info', message: 'Zigbee2MQTT started!' })],
    ['zigbee2mqtt/kitchen_climate/availability', '{"state":"online"}', true],
    ['zigbee2mqtt/kitchen_climate', JSON.stringify({ temperature: 21.5, humidity: 48, pressure: 1012, battery: 97, linkquality: 112 })],
  ]);
  await device(`DVES_${PLUG}`, { topic: `tele/${PLUG}/LWT`, payload: 'Offline' }, [
    [`tele/${PLUG}/LWT`, 'Online', true],
    [`cmnd/${PLUG}/POWER`, ''],
    [`stat/${PLUG}/RESULT`, '{"POWER":"OFF"}'],
    [`stat/${PLUG}/POWER`, 'OFF'],
  ]);
  const status = (output: boolean, source: string) => JSON.stringify({ id: 0, source, output, temperature: { tC: 47.3, tF: 117.1 } });
  const shelly = await device(SHELLY, { topic: `${SHELLY}/online`, payload: 'false' }, [
    [`${SHELLY}/online`, 'true', true],
    [`${SHELLY}/status/switch:0`, status(false, 'init')],
  ]);
  // Switch.Set: the answer on `<src>/rpc` with the request's id, then the switch's new status.
  shelly.on('message', (_topic, payload) => {
    const frame = JSON.parse(payload.toString()) as (typeof frames)[number];
    frames.push(frame);
    shelly.publish(`${frame.src}/rpc`, JSON.stringify({ id: frame.id, src: SHELLY, dst: frame.src, result: { was_on: !frame.params.on } }), { qos: 1 });
    shelly.publish(`${SHELLY}/status/switch:0`, status(frame.params.on, 'MQTT'), { qos: 1 });
  });
  await shelly.subscribeAsync(`${SHELLY}/rpc`, { qos: 1 });
  await device('hall-node', { topic: 'hall-node/status', payload: 'offline' }, [
    ['hall-node/status', 'online', true],
    ['hall-node/switch/relay/state', 'OFF'],
  ]);
  await device('porch-node', { topic: 'porch-node/status', payload: 'offline' }, [
    ['porch-node/status', 'online', true],
    ['porch-node/sensor/porch_temperature/state', '19.8'],
  ]);
});

afterAll(async () => {
  for (const c of clients) await c.endAsync();
  await gw?.stop();
});

describe('devices in the map’s actuators: only', () => {
  it('the live page shows each in its zone, not under “(not placed yet)”', async () => {
    await waitFor(async () => {
      const d = await live();
      return d[PLUG]?.online === true && d[SHELLY]?.online === true && d['hall-node']?.online === true;
    }, 'the three online on the live page');
    const d = await live();
    const where = (id: string) => ({ site: d[id]?.site, zone: d[id]?.zone });
    expect(where(PLUG)).toEqual({ site: 'home', zone: 'kitchen' });
    expect(where(SHELLY)).toEqual({ site: 'home', zone: 'porch' });
    expect(where('hall-node')).toEqual({ site: 'home', zone: 'hall' });
    // Those with readings are where their readings say, as before.
    expect(where('kitchen_climate')).toEqual({ site: 'home', zone: 'kitchen' });
    expect(where('porch-node')).toEqual({ site: 'home', zone: 'porch' });
  });
});

describe('the Zigbee2MQTT bridge', () => {
  it('is not listed as a device (GET /api/devices), its devices are, online while it is', async () => {
    const body = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: DeviceView[] };
    const keys = body.devices.map((d) => d.key);
    expect(keys).not.toContain('zigbee2mqtt:bridge');
    expect(keys.filter((k) => k.startsWith('zigbee2mqtt:'))).toEqual(['zigbee2mqtt:kitchen_climate']);
    expect(body.devices.find((d) => d.key === 'zigbee2mqtt:kitchen_climate')?.online).toBe(true);
  });
});

describe('the Shelly Plus 1 commanded (Gen2 RPC over MQTT)', () => {
  it('gets each Switch.Set with its own id, so each answer on <src>/rpc is matched to its request', async () => {
    const porch = clients.find((c) => c.options.clientId === 'porch-node')!;
    // Warm, then cool: the rules switch the porch's hvac on, then off (besides any command the first reading made).
    await porch.publishAsync('porch-node/sensor/porch_temperature/state', '29.4', { qos: 1 });
    await waitFor(() => frames.some((f) => f.params.on), 'Switch.Set on');
    await porch.publishAsync('porch-node/sensor/porch_temperature/state', '18.9', { qos: 1 });
    await waitFor(() => frames.findIndex((f) => f.params.on) < frames.findLastIndex((f) => !f.params.on), 'Switch.Set off after on');
    expect(frames.every((f) => f.method === 'Switch.Set' && f.src === 'iot-gateway' && f.params.id === 0)).toBe(true);
    const ids = frames.map((f) => f.id);
    expect(ids.every((id) => typeof id === 'number' && Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
