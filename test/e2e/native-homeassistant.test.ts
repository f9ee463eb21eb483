/**
 * Home Assistant MQTT discovery end to end: retained configs teach the gateway where a device's
 * state is, how to read it, which kind and unit it is, its availability and its command topics;
 * the map says only its site and zone. A config with a template the gateway does not understand
 * is listed with the reason, never a crash nor a dead letter per message.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = { ids: ['lab-bench-1'], name: 'Lab bench', mf: 'DIY' };
const CONFIGS: Record<string, object> = {
  'homeassistant/sensor/lab-bench-1/temperature/config': { name: 'Bench temperature', uniq_id: 'lab-bench-1-t', dev_cla: 'temperature', unit_of_meas: '°F', stat_t: 'lab/bench/env', val_tpl: '{{ value_json.temp }}', avty_t: 'lab/bench/status', dev: DEVICE },
  'homeassistant/binary_sensor/lab-bench-1/door/config': { name: 'Bench door', dev_cla: 'door', stat_t: 'lab/bench/env', val_tpl: "{{ value_json['door'] }}", pl_on: 'open', pl_off: 'closed', avty_t: 'lab/bench/status', dev: DEVICE },
  'homeassistant/climate/lab-bench-1/thermostat/config': {
    name: 'Bench AC',
    mode_stat_t: 'lab/bench/hvac/mode',
    mode_cmd_t: 'lab/bench/hvac/mode/set',
    temp_stat_t: 'lab/bench/hvac/target',
    temp_cmd_t: 'lab/bench/hvac/target/set',
    modes: ['off', 'cool', 'heat'],
    dev: DEVICE,
  },
  'homeassistant/sensor/lab-bench-1/doubled/config': { name: 'Doubled', stat_t: 'lab/bench/env', val_tpl: '{{ value_json.temp * 2 }}', dev: DEVICE },
};

let gw: TestGateway;
let bench: MqttClient;

beforeAll(async () => {
  gw = await startWithMap(
    { devices: { 'homeassistant:lab-bench-1': { site: 'lab', zone: 'bench' } }, actuators: { 'lab/bench/hvac': { device: 'homeassistant:lab-bench-1', channel: 'thermostat' } } },
    { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') },
  );
  bench = await connect(gw.mqttUrl, { clientId: 'lab-bench-1' });
  for (const [topic, config] of Object.entries(CONFIGS)) await bench.publishAsync(topic, JSON.stringify(config), { qos: 1, retain: true });
});
afterAll(async () => {
  await bench?.endAsync();
  await gw?.stop();
});

describe('a device announced by Home Assistant discovery', () => {
  it('turns its later state messages into readings in contract units, with no map entry beyond its site and zone', async () => {
    const commands = await collect(bench, ['lab/bench/hvac/mode/set', 'lab/bench/hvac/target/set']);
    await bench.publishAsync('lab/bench/env', JSON.stringify({ temp: 86, door: 'open' }), { qos: 1 });
    const [t] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE site = 'lab' AND zone = 'bench' AND device = 'lab-bench-1'`).then((x) => (x.length ? x : undefined)), 'the temperature');
    expect(t!['value']).toBe(30); // 86 °F
    const [c] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM contact WHERE device = 'lab-bench-1'`).then((x) => (x.length ? x : undefined)), 'the door');
    expect(c!['value']).toBe(1); // open = true
    // 30 °C fires the cooling rule: the climate's own command topics.
    expect((await commands.next((m) => m.topic === 'lab/bench/hvac/mode/set')).payload).toBe('cool');
    expect((await commands.next((m) => m.topic === 'lab/bench/hvac/target/set')).payload).toBe('22');
  });

  it('takes its availability and its climate state', async () => {
    await bench.publishAsync('lab/bench/hvac/mode', 'cool', { qos: 1 });
    await bench.publishAsync('lab/bench/hvac/target', '22', { qos: 1 });
    await bench.publishAsync('lab/bench/status', 'offline', { qos: 1 });
    const [s] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT online FROM device_status WHERE device = 'lab-bench-1'`).then((x) => (x.length ? x : undefined)), 'the status');
    expect(s!['online']).toBe(false);
    const states = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT state FROM actuator_state WHERE actuator = 'hvac' AND zone = 'bench'`).then((x) => (x.length >= 2 ? x : undefined)), 'the climate state');
    expect(JSON.parse(String(states[states.length - 1]!['state']))).toEqual({ mode: 'cool', setpoint: 22 });
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { actuators: unknown[] };
    expect(api.actuators).toEqual([{ target: 'lab/bench/hvac', device: 'homeassistant:lab-bench-1', channel: 'thermostat', form: 'thermostat', reported: { mode: 'cool', setpoint: 22 } }]);
  });

  it('lists a config with a template it does not understand, with the reason, and dead-letters nothing for it', async () => {
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; waiting: boolean; discovery?: Record<string, { refused?: string }> }[] };
    const entry = api.devices.find((d) => d.key === 'homeassistant:lab-bench-1');
    expect(entry?.waiting).toBe(false);
    expect(entry?.discovery?.['homeassistant/sensor/lab-bench-1/doubled/config']?.refused).toMatch(/unsupported template/);
    expect(await rows(gw.influxUrl, gw.db, `SELECT * FROM deadletters`)).toEqual([]);
  });
});
