/**
 * A device renamed in Zigbee2MQTT (its frontend, or `bridge/request/device/rename`) speaks and
 * listens on its new friendly name at once. An outside tester found the gateway kept commanding
 * the old name (`zigbee2mqtt/<old>/set`, which nobody hears) and dead-lettered the new name's
 * readings with advice (`devices assign`) that does not fix an `actuators:` entry. The device map
 * now follows the rename: by the ieee_address the new `bridge/devices` lists under the new name,
 * in force before the device's next message, written to DEVICES_FILE (comments kept), kept across
 * a restart; a rename to a name the map already uses is not followed, and says why.
 *
 * Real gateway, real InfluxDB, real MQTT clients as the bridge; what the bridge publishes at a
 * rename is what Koenkk/zigbee2mqtt does (lib/extension/bridge.ts renameEntity, and
 * availability.ts on entityRenamed): the old name's retained state and availability cleared, the
 * new name's availability, the new bridge/devices, the device's state on its new name, the answer.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import type { DeviceView } from '../../gateway/devices/registry.js';
import { bridgeDevices, bridgeDevicesPayload, publishRename } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { count } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug');
const MAP = `# The device map, as a person wrote it.
devices:
  # the sensor on the office wall
  zigbee2mqtt:office_sensor: { site: hq, zone: z4 }
  zigbee2mqtt:taken_name: { site: hq, zone: z3 }
actuators:
  hq/z1/hvac: zigbee2mqtt:window_ac_plug # the air conditioner's plug
  hq/z2/hvac: { device: zigbee2mqtt:living_trv }
  hq/z4/hvac: zigbee2mqtt:desk_lamp
`;

let gw: TestGateway;
let dataDir: string;
let mapFile: string;
let clock: ManualClock;
let bridge: MqttClient;
let sensor: MqttClient;
let watcher: MqttClient;
let sets: Awaited<ReturnType<typeof collect>>;
let letters: Awaited<ReturnType<typeof collect>>;
let readingNo = 0;
/** The bridge's devices: the fixture's, and a sensor Zigbee2MQTT has no definition for. */
let devices = [...bridgeDevices(), { ...bridgeDevices().at(-1)!, friendly_name: 'office_sensor', ieee_address: '0x00158d0001e5a1b2' }];

const bridgeMessages = () => count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt', outcome: 'recognised' });
const renames = (result: string) => count(gw.gateway.metrics, 'gateway_device_renames_total', { family: 'zigbee2mqtt', result });

async function publishDevices(): Promise<void> {
  const before = await bridgeMessages();
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(devices), { qos: 1, retain: true });
  await waitFor(async () => (await bridgeMessages()) > before, 'bridge/devices taken in');
}

/** What Zigbee2MQTT publishes when `from` is renamed `to`, in its order; `state` is the device's state it republishes. */
async function rename(from: string, to: string, state: Record<string, unknown>): Promise<void> {
  devices = devices.map((d) => (d['friendly_name'] === from ? { ...d, friendly_name: to } : d));
  await publishRename(bridge, from, to, state, () => publishDevices());
}

/** The native command a reading of `value` in `zone` brings to `name` (hot: plug-cool, `{"mode":"cool"}`; cool: plug-cool-done, `{"mode":"off"}`). */
async function commandFor(zone: string, value: number, name: string, publish?: () => Promise<unknown>): Promise<string> {
  const topic = `zigbee2mqtt/${name}/set`;
  const before = sets.messages.filter((m) => m.topic === topic).length;
  await (publish ?? (() => sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value, id: `${zone}-${++readingNo}` }), { qos: 1 })))();
  let n = 0;
  return (await sets.next((m) => m.topic === topic && ++n > before)).payload;
}

async function clients(): Promise<void> {
  watcher = await connect(gw.mqttUrl, { clientId: 'z2m-rename-watcher' });
  sets = await collect(watcher, 'zigbee2mqtt/+/set');
  letters = await collect(watcher, 'gateway/deadletter');
  sensor = await connect(gw.mqttUrl, { clientId: 'z2m-rename-sensors' });
  bridge = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge' });
}

async function apiDevices(): Promise<DeviceView[]> {
  return ((await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: DeviceView[] }).devices;
}

const unassigned = (name: string) => letters.messages.filter((m: Received) => m.json<{ topic: string; reason: string }>().topic === `zigbee2mqtt/${name}` && m.json<{ reason: string }>().reason === 'unassigned_device');

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  dataDir = await mkdtemp(join(tmpdir(), 'gw-z2m-rename-'));
  const started = await startWithMap(MAP, { clock, dataDir, rulesDir: RULES, env: { STATS_INTERVAL_MS: '0' } });
  [gw, mapFile] = [started, started.mapFile];
  await clients();
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await publishDevices();
});
afterAll(async () => {
  for (const c of [bridge, sensor, watcher]) await c?.endAsync(true);
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a device renamed in Zigbee2MQTT', () => {
  it('an actuator: the rules’ commands go to its new name at once, its reports on the new name are its state', async () => {
    expect(await commandFor('z1', 29.5, 'window_ac_plug')).toBe('{"state":"ON"}');
    await rename('window_ac_plug', 'study_ac_plug', { state: 'ON', power: 410, linkquality: 120 });
    expect(await commandFor('z1', 18.5, 'study_ac_plug')).toBe('{"state":"OFF"}');
    expect(sets.messages.filter((m) => m.topic === 'zigbee2mqtt/window_ac_plug/set')).toHaveLength(1);
    expect(unassigned('study_ac_plug')).toEqual([]);
    const plug = (await apiDevices()).find((d) => d.nativeId === 'study_ac_plug');
    expect(plug).toMatchObject({ waiting: false, actuators: { '': { state: 'on' } } });
    expect((await apiDevices()).some((d) => d.nativeId === 'window_ac_plug')).toBe(false);
    expect(await renames('followed')).toBe(1);
    expect(gw.logs.find((l) => l.msg.includes('Zigbee2MQTT renamed zigbee2mqtt:window_ac_plug to zigbee2mqtt:study_ac_plug: the device map follows'))).toMatchObject({ ieee: '0x842e14fffe5b1a2c', entries: ['actuators."hq/z1/hvac"'] });
  });

  it('a sensor: its readings under the new name are placed where the old name was, as the same contract device, not dead letters', async () => {
    await rename('office_sensor', 'kitchen_sensor', { temperature: 21, humidity: 40 });
    // A hot reading from the sensor's new name is the zone's: the zone's hvac is commanded.
    expect(await commandFor('z4', 29.5, 'desk_lamp', () => bridge.publishAsync('zigbee2mqtt/kitchen_sensor', JSON.stringify({ temperature: 29.5, humidity: 41 }), { qos: 1 }))).toBe('{"state":"ON"}');
    expect(unassigned('kitchen_sensor')).toEqual([]);
    const view = (await apiDevices()).find((d) => d.nativeId === 'kitchen_sensor');
    expect(view).toMatchObject({ waiting: false, placements: [{ site: 'hq', zone: 'z4', device: 'office_sensor' }] });
  });

  it('devices.yaml names the new names, with the person’s comments and the contract device kept', async () => {
    const text = await waitFor(async () => {
      const t = await readFile(mapFile, 'utf8');
      return t.includes('kitchen_sensor') && t.includes('study_ac_plug') ? t : undefined;
    }, 'devices.yaml rewritten');
    expect(text).toBe(`# The device map, as a person wrote it.
devices:
  # the sensor on the office wall
  zigbee2mqtt:kitchen_sensor: { site: hq, zone: z4, device: office_sensor }
  zigbee2mqtt:taken_name: { site: hq, zone: z3 }
actuators:
  hq/z1/hvac: zigbee2mqtt:study_ac_plug # the air conditioner's plug
  hq/z2/hvac: { device: zigbee2mqtt:living_trv }
  hq/z4/hvac: zigbee2mqtt:desk_lamp
`);
  });

  it('to a name the map already uses: not followed, and said (log, counter, the device’s problems)', async () => {
    await rename('living_trv', 'taken_name', { system_mode: 'heat', local_temperature: 20 });
    await waitFor(async () => (await renames('conflict')) === 1, 'the conflict counted');
    const line = gw.logs.find((l) => l['code'] === 'GW_ERR_DEVICE_RENAME');
    expect(line?.msg).toContain('the device map names zigbee2mqtt:taken_name already (devices."zigbee2mqtt:taken_name"): not followed. actuators."hq/z2/hvac" still name zigbee2mqtt:living_trv');
    const view = await waitFor(async () => (await apiDevices()).find((d) => d.nativeId === 'taken_name'), 'taken_name listed');
    expect(view.problems.join()).toContain('not followed');
    expect(await readFile(mapFile, 'utf8')).toContain('hq/z2/hvac: { device: zigbee2mqtt:living_trv }');
  });

  it('a device waiting for a zone that reports as an actuator is told how to command it, not only devices assign', async () => {
    const letter = letters.next((m) => m.json<{ topic: string }>().topic === 'zigbee2mqtt/garage_plug');
    await bridge.publishAsync('zigbee2mqtt/garage_plug', JSON.stringify({ state: 'OFF', power: 0 }), { qos: 1 });
    expect((await letter).json<{ detail: string }>().detail).toContain('it reports as an actuator: to command it, name it under actuators: in DEVICES_FILE (<site>/<zone>/<actuator>: zigbee2mqtt:garage_plug');
  });

  it('after a restart, the renamed devices are still followed: commands to the new name, readings placed', async () => {
    for (const c of [bridge, sensor, watcher]) await c.endAsync(true);
    const at = clock.now();
    await gw.stop();
    clock = new ManualClock(at);
    gw = await startGateway({ clock, dataDir, db: gw.db, rulesDir: RULES, env: { DEVICES_FILE: mapFile, STATS_INTERVAL_MS: '0' } });
    await clients();
    expect(await commandFor('z1', 29.5, 'study_ac_plug')).toBe('{"state":"ON"}');
    expect(await commandFor('z4', 18.5, 'desk_lamp', () => bridge.publishAsync('zigbee2mqtt/kitchen_sensor', JSON.stringify({ temperature: 18.5 }), { qos: 1 }))).toBe('{"state":"OFF"}');
    expect(unassigned('kitchen_sensor')).toEqual([]);
  });
});
