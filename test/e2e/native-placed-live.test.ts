/**
 * A native device placed with the CLI shows on the live page in its zone at once (the map reloads),
 * not only once it reports again or the gateway restarts; placed with --redrive, with the latest
 * of its redriven readings.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceState, LiveSnapshot } from '../../gateway/http/live.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

let gw: TestGateway & { mapFile: string };
let z2m: MqttClient;

async function devices(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'gateway/cli/devices.ts', ...args, '--url', gw.httpUrl], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } });
  return stdout;
}

const live = async (): Promise<LiveSnapshot> => (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
const shown = async (device: string): Promise<DeviceState | undefined> => (await live()).devices.find((d) => d.device === device);

beforeAll(async () => {
  gw = await startWithMap('devices:\n  zigbee2mqtt:sim-weather-1: { site: hq, zone: f1 }\n');
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  await z2m.publishAsync('zigbee2mqtt/bridge/state', '{"state":"online"}', { qos: 1, retain: true });
});
afterAll(async () => {
  await z2m?.endAsync();
  await gw?.stop();
});

describe('a native device placed with the CLI, on the live page', () => {
  it('shows in its zone at once, with the latest of its redriven readings', async () => {
    await z2m.publishAsync('zigbee2mqtt/sim-weather-1/availability', '{"state":"online"}', { qos: 1, retain: true });
    await z2m.publishAsync('zigbee2mqtt/sim-weather-1', '{"temperature":21,"humidity":40}', { qos: 1 });
    await z2m.publishAsync('zigbee2mqtt/sim-weather-0/availability', '{"state":"online"}', { qos: 1, retain: true });
    await z2m.publishAsync('zigbee2mqtt/sim-weather-0', '{"temperature":19.5,"humidity":55}', { qos: 1 });
    await z2m.publishAsync('zigbee2mqtt/sim-weather-0', '{"temperature":19.75,"humidity":54}', { qos: 1 });
    await waitFor(async () => (await shown('sim-weather-1'))?.readings['temperature'], 'the placed device on the live page');
    const before = await waitFor(async () => ((await live()).waiting.some((w) => w.key === 'zigbee2mqtt:sim-weather-0') ? live() : undefined), 'the other waiting for a zone');
    expect(before.devices.map((d) => d.device)).not.toContain('sim-weather-0');
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT payload FROM deadletters WHERE reason = 'unassigned_device'`).then((x) => x.length === 2), 'its dead letters in InfluxDB');

    expect(await devices('assign', 'zigbee2mqtt:sim-weather-0', '--site', 'hq', '--zone', 'f1', '--redrive')).toMatch(/2 redriven/);

    // No new message from the device: the map's reload and the redrive alone put it there.
    const placed = await waitFor(async () => ((await shown('sim-weather-0'))?.readings['humidity'] ? shown('sim-weather-0') : undefined), 'the placed device on the live page');
    expect(placed).toMatchObject({ site: 'hq', zone: 'f1', online: true, readings: { temperature: { value: 19.75 }, humidity: { value: 54 } } });
    expect((await live()).waiting.map((w) => w.key)).not.toContain('zigbee2mqtt:sim-weather-0');
    // The device already shown keeps its own place and values.
    expect(await shown('sim-weather-1')).toMatchObject({ site: 'hq', zone: 'f1', readings: { temperature: { value: 21 } } });
  });

  it('shows a device placed without a redrive in its zone, as online as it said', async () => {
    await z2m.publishAsync('zigbee2mqtt/sim-plug-0/availability', '{"state":"online"}', { qos: 1, retain: true });
    await z2m.publishAsync('zigbee2mqtt/sim-plug-0', '{"power":12}', { qos: 1 });
    await waitFor(async () => (await live()).waiting.some((w) => w.key === 'zigbee2mqtt:sim-plug-0'), 'it waiting for a zone');

    await devices('assign', 'zigbee2mqtt:sim-plug-0', '--site', 'hq', '--zone', 'f2');

    const placed = await waitFor(() => shown('sim-plug-0'), 'the placed device on the live page');
    expect(placed).toMatchObject({ site: 'hq', zone: 'f2', online: true });
  });
});
