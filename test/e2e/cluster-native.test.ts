/**
 * Native devices in a cluster: a Zigbee2MQTT bridge and a Home Assistant-discovered device are
 * connected to node A, and their zone's partition is owned by node B, which makes the zone's
 * commands. What the devices taught A (the plug is a switch; the climate's command topics) reaches
 * B on the brokers' bus (gateway/devices/shared-learning.ts), so B commands each in its own form.
 *
 * A plug on A that lost power and came back (a Zigbee2MQTT device_announce, then its power-on
 * state off) is put back by B as one gateway would: A knows it came back, the stored report it
 * forwards says so (`came_back`), B sends the rules' last command again; no manual override.
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

/** A site whose partition B owns (of nodes A and B). */
function siteOfB(): string {
  const owned = new Set(partitionsFor('B', ['A', 'B'], TEST_PARTITIONS));
  return Array.from({ length: 200 }, (_, i) => `site${i}`).find((s) => owned.has(partitionOf(s, TEST_PARTITIONS)))!;
}

describe('native devices in a cluster', () => {
  it('the partition owner commands a device connected to another node in the form that device taught', { timeout: 120_000 }, async () => {
    const site = siteOfB();
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

  it('a plug on A that came back off after a power cut is put back by B, the partition owner: no manual override', { timeout: 120_000 }, async () => {
    const site = siteOfB();
    const target = `${site}/z1/hvac`;
    const { a, b, connect } = await nativeCluster('cpower', { actuators: { [target]: 'zigbee2mqtt:window_ac_plug' } }, { defer, track });
    const observer = await connect(b.mqttUrl, 'observer');
    const alerts = await collect(observer, `alerts/${site}/#`);
    // The bridge on A, answering each command with the plug's new state, as Zigbee2MQTT does.
    const bridge = await connect(a.mqttUrl, 'zigbee2mqtt-bridge');
    const sets = await collect(bridge, 'zigbee2mqtt/window_ac_plug/set');
    bridge.on('message', (topic, payload) => {
      if (topic !== 'zigbee2mqtt/window_ac_plug/set') return;
      const { state } = JSON.parse(payload.toString()) as { state: string };
      void bridge.publishAsync('zigbee2mqtt/window_ac_plug', JSON.stringify({ state, power: state === 'ON' ? 900 : 0, linkquality: 120 }), { qos: 1 });
    });
    await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(), { qos: 1, retain: true });
    await waitFor(async () => {
      const api = (await (await fetch(`${b.httpUrl}/api/devices`)).json()) as { actuators: { target: string; form: string }[] };
      return api.actuators.some((x) => x.target === target && x.form === 'switch');
    }, 'B knows the plug is a switch');
    // The cluster's view of the actuator (the partitions' shared state in Redis, as B committed it).
    const view = async (): Promise<{ status: string; reportedAt?: number } | undefined> => {
      const api = (await (await fetch(`${b.httpUrl}/api/actuators`)).json()) as { actuators: { site: string; zone: string; actuator: string; status: string; reportedAt?: number }[] };
      return api.actuators.find((x) => `${x.site}/${x.zone}/${x.actuator}` === target);
    };

    // B switches the plug on (a hot reading through A); the plug answers on.
    const sensor = await connect(a.mqttUrl, 'sensor');
    await sensor.publishAsync(`sensors/${site}/z1/t1/temperature`, JSON.stringify({ value: 29.5, id: 'cp-1' }), { qos: 1 });
    await waitFor(() => sets.messages.length === 1, 'the command to switch the plug on');
    expect(sets.messages[0]!.payload).toBe('{"state":"ON"}');
    const on = await waitFor(async () => ((await view())?.status === 'confirmed' ? await view() : undefined), 'B took the plug\'s report of on');

    // The power cut: the plug rejoins (its announce, on A) and reports its power-on state, off.
    await bridge.publishAsync('zigbee2mqtt/bridge/event', JSON.stringify({ data: { friendly_name: 'window_ac_plug', ieee_address: '0xa4c138d2a1b2c3d4' }, type: 'device_announce' }), { qos: 1 });
    await bridge.publishAsync('zigbee2mqtt/window_ac_plug', JSON.stringify({ state: 'OFF', power: 0, linkquality: 98 }), { qos: 1 });

    // B, which rules the stored report A forwarded, sends the rules' last command again.
    await waitFor(() => sets.messages.length === 2, 'the command sent again after the plug came back');
    expect(sets.messages[1]!.payload).toBe('{"state":"ON"}');
    const restoring = await waitFor(() => b.proc.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('came back reporting')), 'B’s log line of the command sent again');
    expect(restoring['why']).toBe('Zigbee2MQTT device_announce (rejoined)');
    // The plug's answer to it, taken by B (reported after the first answer; the off between).
    await waitFor(async () => {
      const now = await view();
      return now?.status === 'confirmed' && (now.reportedAt ?? 0) > (on?.reportedAt ?? 0) ? now : undefined;
    }, 'B took the plug\'s report of on again');
    // No change by hand: no manual_override alarm on the owner, no alert.
    const { alarms } = (await (await fetch(`${b.httpUrl}/api/alarms`)).json()) as { alarms: { rule: string }[] };
    expect(alarms.map((x) => x.rule)).not.toContain('manual_override');
    expect(alerts.messages.map((m) => m.json<{ type: string }>().type)).not.toContain('actuator.manual-override');
    expect(b.proc.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('changed by hand'))).toBe(false);
  });
});
