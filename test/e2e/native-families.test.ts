/**
 * Native devices as their firmware really talks, end to end: the fixture corpus (Zigbee2MQTT,
 * Tasmota, Shelly Gen1 and Gen2+, ESPHome) published by a real MQTT client into a real gateway
 * with a device map, read back from the real InfluxDB: each reading stored with the right kind,
 * value (contract units and polarity) and the mapped site/zone/device; availability as
 * device_status; actuator reports as actuator_state; bad values as dead letters naming family,
 * device and key; recognised traffic not dead-lettered. Then a rule firing reaches a mapped
 * actuator of each family on its own command topic, and the firmware's answer comes back in.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindSpec } from '../../gateway/core/kinds.js';
import type { Family } from '../../gateway/devices/types.js';
import { esphomeFixtures } from '../fixtures/native/esphome.js';
import type { NativeFixture } from '../fixtures/native/fixture.js';
import { shellyGen1Fixtures, shellyGen2Fixtures } from '../fixtures/native/shelly.js';
import { tasmotaFixtures } from '../fixtures/native/tasmota.js';
import { zigbee2mqttFixtures } from '../fixtures/native/zigbee2mqtt.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { FixturePlaces, startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';
import { resolve } from 'node:path';

const FAMILIES: [Family, NativeFixture[]][] = [
  ['zigbee2mqtt', zigbee2mqttFixtures.filter((f) => !('availability' in f.expect && f.expect.availability.scope === 'bridge'))],
  ['tasmota', tasmotaFixtures],
  ['shelly', [...shellyGen1Fixtures, ...shellyGen2Fixtures]],
  ['esphome', esphomeFixtures],
];
const places = new FixturePlaces();
for (const [family, fixtures] of FAMILIES) places.add(family, fixtures);

/** Actuators of each family for the rule test, each in a zone of its own. */
const RULE_ACTUATORS = {
  'fx/act-z2m/hvac': 'zigbee2mqtt:act_thermostat',
  'fx/act-tasmota/ventilation': { device: 'tasmota:act_relay', channel: 2 },
  'fx/act-shelly1/ventilation': 'shelly:shelly1-A1B2C3',
  'fx/act-shelly2/ventilation': 'shelly:shellyplus1-a8032abe2f18',
  'fx/act-esphome/hvac': { device: 'esphome:act-node', channel: 'hvac' },
};

let gw: TestGateway;
let device: MqttClient;
let watcher: MqttClient;
const sq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

beforeAll(async () => {
  gw = await startWithMap(
    { devices: places.devices, actuators: { ...places.actuators, ...RULE_ACTUATORS }, tasmota: { fullTopics: ['%prefix%/%topic%/', '%topic%/%prefix%/'] } },
    { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') },
  );
  device = await connect(gw.mqttUrl, { clientId: 'native-fixtures' });
  watcher = await connect(gw.mqttUrl, { clientId: 'native-watcher' });
  const letters = await collect(watcher, 'gateway/deadletter');
  // Every fixture in corpus order, then a stranger: once its dead letter is here, all before it were handled.
  for (const [, fixtures] of FAMILIES) for (const f of fixtures) await device.publishAsync(f.topic, f.payload, { qos: 1 });
  await device.publishAsync('lights/kitchen', 'on', { qos: 1 });
  await letters.next((m) => m.json<{ topic: string }>().topic === 'lights/kitchen');
  await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT count(payload) FROM deadletters WHERE topic = 'lights/kitchen'`)).length > 0, 'the sentinel dead letter in InfluxDB');
});
afterAll(async () => {
  await device?.endAsync();
  await watcher?.endAsync();
  await gw?.stop();
});

const cases = FAMILIES.flatMap(([family, fixtures]) => fixtures.map((f) => [`${family}: ${f.name}`, family, f] as const));

describe('native messages from the fixture corpus', () => {
  it.each(cases)('%s', async (_name, family, f) => {
    const e = f.expect;
    if ('decoded' in e) {
      for (const r of e.decoded.readings) {
        const dev = places.device(family, e.decoded.nativeId, r.channel);
        const stored = await waitFor(
          () => rows(gw.influxUrl, gw.db, `SELECT value FROM "${r.kind}" WHERE site = 'fx' AND zone = ${sq(family)} AND device = ${sq(dev)}`).then((x) => (x.length ? x : undefined)),
          `${r.kind} of ${dev}`,
        );
        expect(stored.map((x) => x['value'])).toContain(kindSpec(r.kind)!.toNumber(r.value));
      }
      for (const a of e.decoded.actuators ?? []) {
        const actuator = places.actuator(family, e.decoded.nativeId, a.channel);
        const states = await waitFor(
          () => rows(gw.influxUrl, gw.db, `SELECT state, device FROM actuator_state WHERE site = 'fx' AND zone = ${sq(family)} AND actuator = '${actuator}'`).then((x) => (x.length ? x : undefined)),
          `actuator_state of ${actuator}`,
        );
        expect(states.map((s) => JSON.parse(String(s['state'])) as object)).toContainEqual(expect.objectContaining(a.state));
        expect(states[0]!['device']).toBe(`${family}:${e.decoded.nativeId}`);
      }
      if (e.decoded.unmapped?.length) {
        const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; unmappedKeys: Record<string, number> }[] };
        const entry = api.devices.find((d) => d.key === `${family}:${e.decoded.nativeId}`);
        for (const k of e.decoded.unmapped) expect(Object.keys(entry?.unmappedKeys ?? {})).toContain(k);
      }
    } else if ('availability' in e) {
      const dev = places.base(family, e.availability.nativeId);
      const statuses = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT online FROM device_status WHERE device = ${sq(dev)}`).then((x) => (x.length ? x : undefined)), `device_status of ${dev}`);
      expect(statuses.map((s) => s['online'])).toContain(e.availability.online);
    } else if ('failure' in e) {
      const letters = await rows(gw.influxUrl, gw.db, `SELECT detail FROM deadletters WHERE reason = 'invalid_payload' AND topic = ${sq(f.topic)}`);
      expect(letters.map((l) => l['detail'])).toContainEqual(expect.stringContaining(e.failure.detail));
    } else if ('recognised' in e) {
      // Handled before the sentinel, which is in InfluxDB: no dead letter for it means none was made.
      const letters = await rows(gw.influxUrl, gw.db, `SELECT reason FROM deadletters WHERE topic = ${sq(f.topic)}`);
      expect(letters).toEqual([]);
    }
  });

  it('counts native messages by family and outcome in /metrics', async () => {
    const text = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    for (const [family] of FAMILIES) expect(text).toMatch(new RegExp(`gateway_native_messages_total\\{family="${family}",outcome="placed"\\} [1-9]`));
    expect(text).toMatch(/gateway_native_messages_total\{family="zigbee2mqtt",outcome="recognised"\} [1-9]/);
    expect(text).toMatch(/gateway_native_messages_total\{family="tasmota",outcome="failure"\} [1-9]/);
  });
});

describe('a rule firing reaches a mapped actuator of each family in its own language', () => {
  it('publishes each firmware its own command beside commands/…, stores it with the command, and takes the state report back', async () => {
    const firmware = await connect(gw.mqttUrl, { clientId: 'DVES_A1B2C3' });
    // Subscribed as each firmware subscribes.
    const seen = await collect(firmware, ['zigbee2mqtt/act_thermostat/set', 'cmnd/act_relay/#', 'shellies/shelly1-A1B2C3/relay/+/command', 'shellyplus1-a8032abe2f18/rpc', 'act-node/climate/hvac/+/command']);
    const commands = await collect(watcher, 'commands/fx/#');
    for (const zone of ['act-z2m', 'act-tasmota', 'act-shelly1', 'act-shelly2', 'act-esphome']) {
      await device.publishAsync(`sensors/fx/${zone}/t1/temperature`, JSON.stringify({ value: 30, id: `hot-${zone}` }), { qos: 1 });
    }
    const z2m = await seen.next((m) => m.topic === 'zigbee2mqtt/act_thermostat/set');
    expect(z2m.json()).toEqual({ system_mode: 'cool', occupied_cooling_setpoint: 22 });
    expect((await seen.next((m) => m.topic === 'cmnd/act_relay/POWER2')).payload).toBe('ON');
    expect((await seen.next((m) => m.topic === 'shellies/shelly1-A1B2C3/relay/0/command')).payload).toBe('on');
    expect((await seen.next((m) => m.topic === 'shellyplus1-a8032abe2f18/rpc')).json()).toMatchObject({ method: 'Switch.Set', params: { id: 0, on: true } });
    expect((await seen.next((m) => m.topic === 'act-node/climate/hvac/mode/command')).payload).toBe('cool');
    expect((await seen.next((m) => m.topic === 'act-node/climate/hvac/target_temperature/command')).payload).toBe('22');

    // The CloudEvent went out unchanged, and each native publish is stored with its id.
    const cool = await commands.next((m) => m.topic === 'commands/fx/act-z2m/hvac');
    const ceId = cool.json<{ id: string }>().id;
    const stored = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT * FROM native_commands WHERE family = 'zigbee2mqtt'`).then((x) => (x.length ? x : undefined)), 'the native command in InfluxDB');
    expect(stored[0]).toMatchObject({ site: 'fx', zone: 'act-z2m', actuator: 'hvac', topic: 'zigbee2mqtt/act_thermostat/set', command_id: ceId, device: 'zigbee2mqtt:act_thermostat' });

    // The relay answers as Tasmota does: the state comes back as actuator_state.
    await firmware.publishAsync('stat/act_relay/POWER2', 'ON', { qos: 1 });
    const state = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT state FROM actuator_state WHERE zone = 'act-tasmota' AND actuator = 'ventilation'`).then((x) => (x.length ? x : undefined)), 'the relay state');
    expect(JSON.parse(String(state[0]!['state']))).toEqual({ state: 'on' });

    // The ESPHome node had never reported; it answers as ESPHome does, one topic per field
    // (esphome/components/mqtt/mqtt_climate.cpp publish_state_): the command is confirmed, not
    // taken for a change by hand once the mode alone has come.
    const esphome = await commands.next((m) => m.topic === 'commands/fx/act-esphome/hvac');
    await firmware.publishAsync('act-node/climate/hvac/mode/state', 'cool', { qos: 1 });
    await firmware.publishAsync('act-node/climate/hvac/target_temperature/state', '22.0', { qos: 1 });
    const statusOf = `SELECT status, detail FROM command_status WHERE command_id = '${esphome.json<{ id: string }>().id}'`;
    const steps = await waitFor(() => rows(gw.influxUrl, gw.db, statusOf).then((x) => (x.some((r) => r['status'] !== 'sent') ? x : undefined)), 'the ESPHome command confirmed');
    expect(steps.map((r) => r['status'])).toEqual(['sent', 'confirmed']);
    expect(await rows(gw.influxUrl, gw.db, `SELECT * FROM alarms WHERE zone = 'act-esphome'`)).toEqual([]);
    await firmware.endAsync();
  });
});

describe('the contract’s own topics', () => {
  it('work exactly as before beside native devices', async () => {
    const letters = await collect(watcher, 'gateway/deadletter');
    await device.publishAsync('sensors/fx/plain/t9/humidity', JSON.stringify({ value: 41, id: 'plain-1' }), { qos: 1 });
    await device.publishAsync('sensors/fx/plain/t9/humidity', '{"value":"wet"}', { qos: 1 });
    expect((await letters.next((m) => m.json<{ payload: string }>().payload === '{"value":"wet"}')).json()).toMatchObject({ reason: 'invalid_payload' });
    const [r] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE event_id = 'plain-1'`).then((x) => (x.length ? x : undefined)), 'the plain reading');
    expect(r!['value']).toBe(41);
  });
});
