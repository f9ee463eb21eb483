/**
 * Native devices in a cluster: a Zigbee2MQTT bridge and a Home Assistant-discovered device are
 * connected to node A, and their zone's partition is owned by node B, which makes the zone's
 * commands. What the devices taught A (the plug is a switch; the climate's command topics) reaches
 * B on the brokers' bus (gateway/devices/shared-learning.ts), so B commands each in its own form.
 *
 * Real gateway processes on one real Redis and InfluxDB, real MQTT clients.
 */
import { describe, expect, it } from 'vitest';
import { partitionOf, partitionsFor } from '../../gateway/core/partition.js';
import { bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import { useCleanup } from '../helpers/cleanup.js';
import { nativeCluster, TEST_PARTITIONS } from '../helpers/cluster.js';
import { collect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const DEVICE = { ids: ['lab-bench-1'], name: 'Lab bench', mf: 'DIY' };

describe('native devices in a cluster', () => {
  it('the partition owner commands a device connected to another node in the form that device taught', { timeout: 120_000 }, async () => {
    const owned = new Set(partitionsFor('B', ['A', 'B'], TEST_PARTITIONS));
    const site = Array.from({ length: 200 }, (_, i) => `site${i}`).find((s) => owned.has(partitionOf(s, TEST_PARTITIONS)))!;
    const { a, b, connect } = await nativeCluster(
      'cnative',
      {
        devices: { 'homeassistant:lab-bench-1': { site, zone: 'bench' } },
        actuators: { [`${site}/z1/hvac`]: 'zigbee2mqtt:window_ac_plug', [`${site}/bench/hvac`]: { device: 'homeassistant:lab-bench-1', channel: 'thermostat' } },
      },
      { defer, track },
    );

    // An observer of everything: the nodes' internal word is not for clients.
    const everything = await collect(await connect(b.mqttUrl, 'everything'), '#');
    // What the devices teach, through A.
    const bridge = await connect(a.mqttUrl, 'zigbee2mqtt-bridge');
    await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(), { qos: 1, retain: true });
    const bench = await connect(a.mqttUrl, 'lab-bench-1');
    await bench.publishAsync('homeassistant/sensor/lab-bench-1/temperature/config', JSON.stringify({ name: 'Bench temperature', dev_cla: 'temperature', unit_of_meas: '°F', stat_t: 'lab/bench/env', val_tpl: '{{ value_json.temp }}', dev: DEVICE }), { qos: 1, retain: true });
    await bench.publishAsync('homeassistant/climate/lab-bench-1/thermostat/config', JSON.stringify({ name: 'Bench AC', mode_cmd_t: 'lab/bench/hvac/mode/set', temp_cmd_t: 'lab/bench/hvac/target/set', modes: ['off', 'cool'], dev: DEVICE }), { qos: 1, retain: true });

    // B, the zone's owner, learns it from A.
    await waitFor(async () => {
      const api = (await (await fetch(`${b.httpUrl}/api/devices`)).json()) as { actuators: { target: string; form: string }[] };
      const forms = Object.fromEntries(api.actuators.map((x) => [x.target, x.form]));
      return forms[`${site}/z1/hvac`] === 'switch' && forms[`${site}/bench/hvac`] === 'thermostat';
    }, 'B knows the plug is a switch and the discovered climate a thermostat');

    const watcher = await connect(a.mqttUrl, 'watcher');
    const sets = await collect(watcher, ['zigbee2mqtt/window_ac_plug/set', 'lab/bench/hvac/mode/set']);
    await watcher.publishAsync(`sensors/${site}/z1/t1/temperature`, JSON.stringify({ value: 29.5, id: 'cn-1' }), { qos: 1 });
    expect((await sets.next((m) => m.topic === 'zigbee2mqtt/window_ac_plug/set')).payload).toBe('{"state":"ON"}');
    await bench.publishAsync('lab/bench/env', JSON.stringify({ temp: 86 }), { qos: 1 });
    expect((await sets.next((m) => m.topic === 'lab/bench/hvac/mode/set')).payload).toBe('cool');
    expect(everything.messages.filter((m) => m.topic.startsWith('$'))).toEqual([]);
    // B made both commands (its log lines come through its stdout, maybe after the commands).
    const made = () => b.proc.logs.filter((l) => l.msg === 'command').map((l) => l['topic']);
    await waitFor(() => made().includes(`commands/${site}/bench/hvac`), 'B’s log line of the bench command');
    expect(made()).toEqual(expect.arrayContaining([`commands/${site}/z1/hvac`, `commands/${site}/bench/hvac`]));
  });
});
