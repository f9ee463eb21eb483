/**
 * What devices taught the gateway once, through retained messages, holds across its restart:
 * Home Assistant discovery configs (where a device's states are, its climate's command topics) and
 * a Zigbee2MQTT bridge's `bridge/devices` (a plug is a switch). Devices publish these at their own
 * start, retained, and not again: after the gateway's restart, before any device says anything,
 * the discovered device's states are readings (not dead letters) and each actuator is commanded in
 * its own form. The broker restores the retained messages from its snapshot; the devices layer
 * reads them again before the broker listens (gateway/devices/relearn.ts).
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB, real MQTT clients.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = { ids: ['lab-bench-1'], name: 'Lab bench', mf: 'DIY' };
const CONFIGS: Record<string, object> = {
  'homeassistant/sensor/lab-bench-1/temperature/config': { name: 'Bench temperature', uniq_id: 'lab-bench-1-t', dev_cla: 'temperature', unit_of_meas: '°F', stat_t: 'lab/bench/env', val_tpl: '{{ value_json.temp }}', dev: DEVICE },
  'homeassistant/climate/lab-bench-1/thermostat/config': { name: 'Bench AC', mode_stat_t: 'lab/bench/hvac/mode', mode_cmd_t: 'lab/bench/hvac/mode/set', temp_cmd_t: 'lab/bench/hvac/target/set', modes: ['off', 'cool', 'heat'], dev: DEVICE },
};
const MAP = {
  devices: { 'homeassistant:lab-bench-1': { site: 'lab', zone: 'bench' }, 'esphome:relay-node': { site: 'hq', zone: 'e1' } },
  actuators: { 'lab/bench/hvac': { device: 'homeassistant:lab-bench-1', channel: 'thermostat' }, 'hq/z1/hvac': 'zigbee2mqtt:window_ac_plug', 'hq/e1/hvac': { device: 'esphome:relay-node', channel: 'relay' } },
};

interface ActuatorView {
  target: string;
  form: string;
}

let dataDir: string;
const db = uniqueDb('restart_learnt');
let gw: TestGateway;

async function start(): Promise<void> {
  gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug'), env: { STATS_INTERVAL_MS: '0' } });
}

async function actuatorForms(): Promise<Record<string, string>> {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { actuators: ActuatorView[] };
  return Object.fromEntries(api.actuators.map((a) => [a.target, a.form]));
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-learnt-'));
  await start();
  const bench = await connect(gw.mqttUrl, { clientId: 'lab-bench-1' });
  for (const [topic, config] of Object.entries(CONFIGS)) await bench.publishAsync(topic, JSON.stringify(config), { qos: 1, retain: true });
  const bridge = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge' });
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(), { qos: 1, retain: true });
  // An ESPHome relay without discovery: a switch by what it reported (`<node>/switch/<id>/state`).
  const relay = await connect(gw.mqttUrl, { clientId: 'relay-node' });
  await relay.publishAsync('relay-node/switch/relay/state', 'ON', { qos: 1 });
  // Learnt before the restart: the plug and the relay are switches, the discovered climate a thermostat.
  await waitFor(async () => {
    const forms = await actuatorForms();
    return forms['hq/z1/hvac'] === 'switch' && forms['lab/bench/hvac'] === 'thermostat' && forms['hq/e1/hvac'] === 'switch';
  }, 'the forms learnt before the restart');
  // Its report stored (the rebuild reads it back).
  await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT state FROM actuator_state WHERE zone = 'e1'`).then((x) => x.length > 0), 'the relay’s report stored');
  await relay.endAsync();
  await bench.endAsync();
  await bridge.endAsync();
  await gw.stop();
  await start();
});

afterAll(async () => {
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after a restart, before any device republishes what it retained', () => {
  it('each actuator keeps the form its device taught: the Zigbee2MQTT plug a switch, the discovered climate a thermostat', async () => {
    expect(await actuatorForms()).toEqual({ 'hq/z1/hvac': 'switch', 'lab/bench/hvac': 'thermostat', 'hq/e1/hvac': 'switch' });
  });

  it('an actuator-only device is listed with what it last reported, as stored', async () => {
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; actuators: Record<string, unknown> }[]; actuators: { target: string; reported?: unknown }[] };
    expect(api.devices.find((d) => d.key === 'esphome:relay-node')?.actuators).toEqual({ relay: { state: 'on' } });
    expect(api.actuators.find((a) => a.target === 'hq/e1/hvac')?.reported).toEqual({ state: 'on' });
  });

  it('a discovered device’s state message is a reading in contract units, and its climate is commanded on its own topics', async () => {
    const bench = await connect(gw.mqttUrl, { clientId: 'lab-bench-1' });
    const commands = await collect(bench, ['lab/bench/hvac/mode/set', 'gateway/deadletter']);
    await bench.publishAsync('lab/bench/env', JSON.stringify({ temp: 86 }), { qos: 1 });
    const [t] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'lab-bench-1'`).then((x) => (x.length ? x : undefined)), 'the temperature');
    expect(t!['value']).toBe(30); // 86 °F
    expect((await commands.next((m) => m.topic === 'lab/bench/hvac/mode/set')).payload).toBe('cool');
    expect(commands.messages.filter((m) => m.topic === 'gateway/deadletter')).toEqual([]);
    await bench.endAsync();
  });

  it('a Zigbee2MQTT plug that has not said anything since is switched, not sent a system_mode', async () => {
    const watcher = await connect(gw.mqttUrl, { clientId: 'z2m-watch' });
    const sets = await collect(watcher, 'zigbee2mqtt/window_ac_plug/set');
    await watcher.publishAsync('sensors/hq/z1/t1/temperature', JSON.stringify({ value: 29.5, id: 'after-restart-1' }), { qos: 1 });
    expect((await sets.next()).payload).toBe('{"state":"ON"}');
    await watcher.endAsync();
  });

  it('the discovered device is listed with its configs, and nothing was dead-lettered', async () => {
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; discovery?: Record<string, unknown> }[] };
    const entry = api.devices.find((d) => d.key === 'homeassistant:lab-bench-1');
    expect(Object.keys(entry?.discovery ?? {}).sort()).toEqual(Object.keys(CONFIGS).sort());
    expect(await rows(gw.influxUrl, gw.db, `SELECT * FROM deadletters`)).toEqual([]);
  });
});
