/**
 * A device the device map no longer places (renamed in Zigbee2MQTT and followed, unassigned with
 * the CLI) leaves its zone on the live page at once: an outside tester saw `/live/state` list a
 * renamed plug under both names, still after two restarts, and an unassigned device both in its
 * old zone and waiting for a zone until a restart. A contract device (`sensors/...`) stays.
 *
 * Real gateway, real InfluxDB, real MQTT clients: the bridge publishes what Zigbee2MQTT does at a
 * rename (as in native-z2m-rename.test.ts), the CLI edits DEVICES_FILE, then the gateway restarts
 * on the same data and database.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceState, LiveSnapshot } from '../../gateway/http/live.js';
import { bridgeDevices, bridgeDevicesPayload, publishRename } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { openSse, type SseStream } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const MAP = `devices:
  zigbee2mqtt:hall_sensor: { site: hq, zone: z2 }
actuators:
  hq/z1/hvac: zigbee2mqtt:window_ac_plug
`;
const ENV = { LIVE_PUSH_MS: '20', STATS_INTERVAL_MS: '0' };

let gw: TestGateway;
let dataDir: string;
let mapFile: string;
let bridge: MqttClient;
let sensor: MqttClient;
let sse: SseStream;
/** The fixture's devices, and a sensor named for where it is (a Zigbee2MQTT friendly name `<site>/<zone>/<device>`). */
let devices = [...bridgeDevices(), { ...bridgeDevices().at(-1)!, friendly_name: 'hq/z3/t5', ieee_address: '0x00158d0001e5a1b3' }];

const live = async (): Promise<LiveSnapshot> => (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
const shown = async (device: string): Promise<DeviceState | undefined> => (await live()).devices.find((d) => d.device === device);
const removedBy = (device: string) => sse.next((m) => m.event === 'update' && ((JSON.parse(m.data) as { removed?: string[] }).removed ?? []).includes(device), `${device} removed on the stream`);

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'gateway/cli/devices.ts', ...args, '--url', gw.httpUrl], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: mapFile } });
  return stdout;
}

/** What Zigbee2MQTT publishes when `from` is renamed `to` (lib/extension/bridge.ts renameEntity), in its order. */
async function rename(from: string, to: string, state: Record<string, unknown>): Promise<void> {
  devices = devices.map((d) => (d['friendly_name'] === from ? { ...d, friendly_name: to } : d));
  await publishRename(bridge, from, to, state, () => bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(devices), { qos: 1, retain: true }));
}

async function clients(): Promise<void> {
  bridge = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge' });
  sensor = await connect(gw.mqttUrl, { clientId: 'live-unplaced-t1' });
  sse = await openSse(`${gw.httpUrl}/live/events`);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-live-unplaced-'));
  const started = await startWithMap(MAP, { dataDir, env: ENV });
  [gw, mapFile] = [started, started.mapFile];
  await clients();
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(devices), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/window_ac_plug/availability', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/window_ac_plug', JSON.stringify({ state: 'ON', power: 1800 }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/hall_sensor', JSON.stringify({ temperature: 20.5 }), { qos: 1 });
  // Placed by its friendly name, not by the map: it stays through the map's changes.
  await bridge.publishAsync('zigbee2mqtt/hq/z3/t5', JSON.stringify({ temperature: 19 }), { qos: 1 });
  await sensor.publishAsync('sensors/hq/z1/t1/temperature', JSON.stringify({ value: 21 }), { qos: 1 });
  await waitFor(async () => {
    const s = await live();
    return ['window_ac_plug', 'hall_sensor', 't1', 't5'].every((d) => s.devices.some((x) => x.device === d && x.readings && Object.keys(x.readings).length > 0));
  }, 'the three devices on the live page');
});
afterAll(async () => {
  sse?.close();
  for (const c of [bridge, sensor]) await c?.endAsync(true);
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a device the map no longer places, on the live page', () => {
  it('renamed in Zigbee2MQTT: only its new name is shown, the old one leaves its zone at once (on the stream too)', async () => {
    expect(await shown('window_ac_plug')).toMatchObject({ site: 'hq', zone: 'z1', readings: { power: { value: 1800 } } });
    const gone = removedBy('window_ac_plug');
    await rename('window_ac_plug', 'lounge_heater', { state: 'ON', power: 1750 });
    await gone;
    const now = await waitFor(async () => ((await shown('lounge_heater'))?.readings['power'] ? live() : undefined), 'the new name on the live page');
    expect(now.devices.map((d) => d.device)).not.toContain('window_ac_plug');
    expect(now.devices.find((d) => d.device === 'lounge_heater')).toMatchObject({ site: 'hq', zone: 'z1', readings: { power: { value: 1750 } } });
    // The contract device in the same zone stays.
    expect(now.devices.find((d) => d.device === 't1')).toMatchObject({ site: 'hq', zone: 'z1', readings: { temperature: { value: 21 } } });
  });

  it('unassigned with the CLI: it leaves its zone at once and waits for a zone', async () => {
    const gone = removedBy('hall_sensor');
    await cli('unassign', 'zigbee2mqtt:hall_sensor');
    await gone;
    const now = await waitFor(async () => ((await live()).waiting.some((w) => w.key === 'zigbee2mqtt:hall_sensor') ? live() : undefined), 'it waiting for a zone');
    expect(now.devices.map((d) => d.device)).not.toContain('hall_sensor');
    expect(now.devices.map((d) => d.device)).toContain('t1');
    expect(now.devices.find((d) => d.device === 't5')).toMatchObject({ site: 'hq', zone: 'z3', readings: { temperature: { value: 19 } } });
  });

  it('after a restart, neither comes back from the stored readings; the new name and the contract device are shown', async () => {
    sse.close();
    for (const c of [bridge, sensor]) await c.endAsync(true);
    await gw.stop();
    gw = await startGateway({ dataDir, db: gw.db, env: { DEVICES_FILE: mapFile, ...ENV } });
    await clients();
    // Seeded from the stored history before the broker listens: t1's reading shows the seed is done.
    const s = await waitFor(async () => ((await shown('t1'))?.readings['temperature'] ? live() : undefined), 't1 seeded from history');
    const names = s.devices.map((d) => d.device);
    expect(names).not.toContain('window_ac_plug');
    expect(names).not.toContain('hall_sensor');
    expect(names).toContain('lounge_heater');
    expect(s.devices.find((d) => d.device === 't1')).toMatchObject({ site: 'hq', zone: 'z1' });
    expect(s.devices.find((d) => d.device === 't5')).toMatchObject({ site: 'hq', zone: 'z3', readings: { temperature: { value: 19 } } });
  });
});
