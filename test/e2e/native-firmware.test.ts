/**
 * What real firmware sends on day one that the gateway once got wrong, end to end: each message
 * published exactly as the firmware publishes it (its source beside it) by a real MQTT client
 * into a real gateway with a device map, and what came of it read back from the real InfluxDB:
 *
 * - a Shelly Gen2+ answers an RPC on `<src>/rpc` (the gateway's commands say `src: iot-gateway`):
 *   the answer is no dead letter;
 * - a Shelly Motion / Motion 2 (Gen1) reports on `shellies/<id>/status`, one JSON object: motion,
 *   lux and battery are stored;
 * - a Shelly Gen1 relay reports `overpower` when its protection switched it off: an `off` state;
 * - a Shelly Dimmer / Duo / Vintage (Gen1) takes `light/<n>/command`, not `relay/<n>/command`;
 * - every tasmota32 build reports its chip temperature (`ESP32.Temperature`, ~40–60 °C) in
 *   `tele/<topic>/SENSOR`: not the room's temperature, nothing stored, no cooling;
 * - every Tasmota publishes `tasmota/discovery/<MAC>/config` and `/sensors` (retained) at each
 *   connection: its own discovery, not a stranger's topic;
 * - an ESPHome sensor announced (discovery) in °F or kW publishes the bare number: °C and W stored;
 * - a Home Assistant discovery light with `"schema":"json"` (every ESPHome light) reports and takes
 *   JSON (`{"state":"ON",…}`), not bare ON/OFF;
 * - Zigbee2MQTT with `advanced.output: attribute_and_json` also publishes every key alone on
 *   `<base>/<name>/<key>` (bare values): a copy of the JSON, not a dead letter.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const SHELLY2 = 'shellyplus1-4855199bc0e8';
const MOTION = 'shellymotionsensor-60A423976594';
const PLUG = 'shellyplug-s-C38EAB';
const DIMMER = 'shellydimmer2-4C7525336380';
const ESP32 = 'tasmota_17A5A0';
const ESPHOME_DEV = 'a0b765f3c1d4';

let gw: TestGateway;
let firmware: MqttClient;
let watcher: MqttClient;
const sq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Dead letters of a topic once a later sentinel's is in InfluxDB (everything before it was handled). */
async function deadLettersOf(topic: string): Promise<Record<string, unknown>[]> {
  const sentinel = `sentinel/${Math.random().toString(16).slice(2)}`;
  await firmware.publishAsync(sentinel, 'x', { qos: 1 });
  await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT count(payload) FROM deadletters WHERE topic = ${sq(sentinel)}`)).length > 0, 'the sentinel dead letter');
  return rows(gw.influxUrl, gw.db, `SELECT reason, detail FROM deadletters WHERE topic = ${sq(topic)}`);
}

beforeAll(async () => {
  gw = await startWithMap(
    {
      devices: {
        [`shelly:${MOTION}`]: { site: 'fw', zone: 'hall', device: 'motion-1' },
        [`shelly:${PLUG}`]: { site: 'fw', zone: 'plug', device: 'plug-1' },
        [`tasmota:${ESP32}`]: { site: 'fw', zone: 'esp32', device: 'esp-1' },
        'zigbee2mqtt:bulb': { site: 'fw', zone: 'z2m', device: 'bulb' },
        [`homeassistant:${ESPHOME_DEV}`]: { site: 'fw', zone: 'esl', device: 'desk-node' },
        'esphome:porch-node': { site: 'fw', zone: 'porch', device: 'porch-node' },
      },
      actuators: {
        'fw/sh2/ventilation': `shelly:${SHELLY2}`,
        'fw/dim/ventilation': `shelly:${DIMMER}`,
        'fw/plug/ventilation': `shelly:${PLUG}`,
        'fw/esp32/ventilation': { device: `tasmota:${ESP32}`, channel: 1 },
        'fw/esl/ventilation': { device: `homeassistant:${ESPHOME_DEV}`, channel: 'desk' },
      },
    },
    { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') },
  );
  firmware = await connect(gw.mqttUrl, { clientId: 'native-firmware' });
  watcher = await connect(gw.mqttUrl, { clientId: 'native-firmware-watcher' });
});
afterAll(async () => {
  await firmware?.endAsync();
  await watcher?.endAsync();
  await gw?.stop();
});

describe('Shelly', () => {
  it('Gen2+: the answer to the gateway’s Switch.Set, on iot-gateway/rpc, is no dead letter', async () => {
    const rpc = await collect(firmware, `${SHELLY2}/rpc`);
    await firmware.publishAsync('sensors/fw/sh2/t1/temperature', JSON.stringify({ value: 30, id: 'fw-hot-sh2' }), { qos: 1 });
    const call = (await rpc.next()).json<{ id: number; src: string; method: string }>();
    expect(call).toMatchObject({ method: 'Switch.Set', src: 'iot-gateway' });
    // As a Shelly Plus 1 answers (ioBroker.shelly issue #1055: `iobroker/rpc` {"id":3,"src":"shellyplus1-4855199bc0e8","dst":"iobroker","result":{"was_on":true}}).
    const reply = `${call.src}/rpc`;
    await firmware.publishAsync(reply, JSON.stringify({ id: call.id, src: SHELLY2, dst: call.src, result: { was_on: false } }), { qos: 1 });
    expect(await deadLettersOf(reply)).toEqual([]);
  });

  it('Motion (Gen1): shellies/<id>/status gives motion, illuminance and battery', async () => {
    // StyraHem/pyShelly pyShelly/block.py: shellies/shellymotionsensor-60A423976594/status {"motion":true,…,"lux":303,"bat":87}
    await firmware.publishAsync(`shellies/${MOTION}/status`, '{"motion":true,"timestamp":1614416952,"active":true,"vibration":true,"lux":303,"bat":87}', { qos: 1 });
    // Booleans are stored as 1/0 (kinds.ts), as every motion reading is.
    for (const [kind, value] of [['motion', 1], ['illuminance', 303], ['battery', 87]] as const) {
      const stored = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM "${kind}" WHERE zone = 'hall' AND device = 'motion-1'`).then((x) => (x.length ? x : undefined)), `${kind} of the Shelly Motion`);
      expect(stored.map((r) => r['value'])).toEqual([value]);
    }
  });

  it('Gen1 relay "overpower": the relay is off, not a dead letter', async () => {
    await firmware.publishAsync(`shellies/${PLUG}/relay/0`, 'overpower', { qos: 1 });
    const states = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT state FROM actuator_state WHERE zone = 'plug' AND actuator = 'ventilation'`).then((x) => (x.length ? x : undefined)), 'the plug’s state');
    expect(JSON.parse(String(states[0]!['state']))).toEqual({ state: 'off' });
    expect(await deadLettersOf(`shellies/${PLUG}/relay/0`)).toEqual([]);
  });

  it('Dimmer 2 (Gen1): switched on shellies/<id>/light/0/command, where it listens', async () => {
    const dimmer = await collect(firmware, `shellies/${DIMMER}/#`);
    await firmware.publishAsync('sensors/fw/dim/t1/temperature', JSON.stringify({ value: 30, id: 'fw-hot-dim' }), { qos: 1 });
    const sent = await dimmer.next((m) => m.topic.endsWith('/command'));
    expect({ topic: sent.topic, payload: sent.payload }).toEqual({ topic: `shellies/${DIMMER}/light/0/command`, payload: 'on' });
  });
});

describe('Tasmota', () => {
  it('the ESP32 chip temperature is not stored as the room’s, and cools nothing', async () => {
    const commands = await collect(watcher, 'commands/fw/esp32/#');
    // tasmota/docs docs/ESP32.md ("CPU Temperature Sensor"), exactly as shown there.
    await firmware.publishAsync(`tele/${ESP32}/SENSOR`, '{"Time":"2021-01-01T00:00:00","ESP32":{"Temperature":41.7},"TempUnit":"C"}', { qos: 1 });
    expect(await deadLettersOf(`tele/${ESP32}/SENSOR`)).toEqual([]);
    expect(await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE zone = 'esp32'`)).toEqual([]);
    expect(commands.messages).toEqual([]);
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; unmappedKeys: Record<string, number> }[] };
    expect(Object.keys(api.devices.find((d) => d.key === `tasmota:${ESP32}`)?.unmappedKeys ?? {})).toContain('ESP32.Temperature');
  });
});

describe('Tasmota discovery', () => {
  it('tasmota/discovery/<MAC>/config and /sensors, retained at every connection, are no dead letters', async () => {
    // arendst/Tasmota tasmota/tasmota_xdrv_driver/xdrv_12_discovery.ino (TasDiscovery), on by default (SetOption19 0).
    await firmware.publishAsync('tasmota/discovery/A0B765F3C1D2/config', '{"ip":"192.168.1.50","dn":"Tasmota","fn":["Tasmota",null],"hn":"tasmota-F3C1D2-0466","mac":"A0B765F3C1D2","md":"ESP32-DevKit","ty":0,"if":0,"ofln":"Offline","onln":"Online","state":["OFF","ON","TOGGLE","HOLD"],"sw":"14.3.0","t":"tasmota_17A5A0","ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"],"rl":[1,0],"ver":1}', { qos: 1, retain: true });
    await firmware.publishAsync('tasmota/discovery/A0B765F3C1D2/sensors', '{"sn":{"Time":"2021-01-01T00:00:00","ESP32":{"Temperature":41.7},"TempUnit":"C"},"ver":1}', { qos: 1, retain: true });
    expect(await deadLettersOf('tasmota/discovery/A0B765F3C1D2/config')).toEqual([]);
    expect(await deadLettersOf('tasmota/discovery/A0B765F3C1D2/sensors')).toEqual([]);
  });

  it('a Tasmota announcing a FullTopic the map does not read: its dead letters say how to read it', async () => {
    // Tasmota's FullTopic `%topic%/%prefix%/` (SetOption or the web UI), announced as `ft` in its discovery config.
    await firmware.publishAsync('tasmota/discovery/A0B765F3C1D9/config', '{"ip":"192.168.1.51","dn":"Swapped","fn":["Swapped",null],"hn":"tasmota-F3C1D9-0467","mac":"A0B765F3C1D9","md":"Sonoff Basic","ty":0,"if":0,"ofln":"Offline","onln":"Online","state":["OFF","ON","TOGGLE","HOLD"],"sw":"14.3.0","t":"swapped","ft":"%topic%/%prefix%/","tp":["cmnd","stat","tele"],"rl":[1,0],"ver":1}', { qos: 1, retain: true });
    await firmware.publishAsync('swapped/tele/STATE', '{"Time":"2026-11-29T11:00:00","Uptime":"0T00:01:00","POWER":"ON"}', { qos: 1 });
    const [letter] = await waitFor(async () => ((await deadLettersOf('swapped/tele/STATE')).length ? deadLettersOf('swapped/tele/STATE') : undefined), 'the dead letter');
    expect(JSON.stringify(letter)).toContain('tasmota:swapped announced FullTopic \\"%topic%/%prefix%/\\"');
    expect(JSON.stringify(letter)).toContain('fullTopics');
    // A default FullTopic announced says nothing of the sort.
    await firmware.publishAsync('tasmota/discovery/A0B765F3C1D2/config', '{"t":"tasmota_17A5A0","ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"],"ver":1}', { qos: 1, retain: true });
    await firmware.publishAsync('other/stuff/STATE', '{}', { qos: 1 });
    const [plain] = await waitFor(async () => ((await deadLettersOf('other/stuff/STATE')).length ? deadLettersOf('other/stuff/STATE') : undefined), 'the plain dead letter');
    expect(JSON.stringify(plain)).not.toContain('announced FullTopic');
  });
});

describe('ESPHome', () => {
  it('a sensor announced in °F (or kW) is stored in the contract’s °C (W)', async () => {
    // esphome/esphome esphome/components/mqtt/mqtt_sensor.cpp: the discovery config carries the
    // sensor's unit_of_measurement (unit_of_meas) and device_class; the state topic only the number.
    // esphome-docs components/sensor/index.rst: °F by a lambda filter and unit_of_measurement: "°F".
    const dev = { ids: 'a0b765f3c1d5', name: 'porch-node', sw: 'esphome v2025.10.0', mdl: 'esp32dev' };
    await firmware.publishAsync('homeassistant/sensor/porch-node/porch_t/config', JSON.stringify({ dev_cla: 'temperature', unit_of_meas: '°F', stat_cla: 'measurement', name: 'Porch T', stat_t: 'porch-node/sensor/porch_t/state', avty_t: 'porch-node/status', uniq_id: 'a0b765f3c1d5sensorporch_t', dev }), { qos: 1, retain: true });
    await firmware.publishAsync('homeassistant/sensor/porch-node/heater/config', JSON.stringify({ dev_cla: 'power', unit_of_meas: 'kW', stat_cla: 'measurement', name: 'Heater', stat_t: 'porch-node/sensor/heater/state', avty_t: 'porch-node/status', uniq_id: 'a0b765f3c1d5sensorheater', dev }), { qos: 1, retain: true });
    await firmware.publishAsync('porch-node/sensor/porch_t/state', '71.6', { qos: 1 });
    await firmware.publishAsync('porch-node/sensor/heater/state', '1.25', { qos: 1 });
    const [t] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE zone = 'porch'`).then((x) => (x.length ? x : undefined)), 'the porch temperature');
    expect(t!['value']).toBe(22);
    const [p] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM power WHERE zone = 'porch'`).then((x) => (x.length ? x : undefined)), 'the heater power');
    expect(p!['value']).toBe(1250);
  });
});

describe('Home Assistant discovery', () => {
  it('a JSON-schema light (every ESPHome light): its JSON state is read and it is switched with JSON', async () => {
    // esphome/esphome esphome/components/mqtt/mqtt_light.cpp: discovery "schema":"json", state and
    // command through LightJSONSchema ({"state":"ON","brightness":255,"color_mode":"brightness"}).
    const config = { schema: 'json', color_mode: true, supported_color_modes: ['brightness'], brightness: true, name: 'Desk', stat_t: 'desk-node/light/desk/state', cmd_t: 'desk-node/light/desk/command', avty_t: 'desk-node/status', uniq_id: 'a0b765f3c1d4lightdesk', dev: { ids: ESPHOME_DEV, name: 'desk-node', sw: 'esphome v2025.10.0', mdl: 'esp32dev' } };
    await firmware.publishAsync('homeassistant/light/desk-node/desk/config', JSON.stringify(config), { qos: 1, retain: true });
    await firmware.publishAsync('desk-node/light/desk/state', '{"state":"OFF","brightness":255,"color_mode":"brightness"}', { qos: 1 });
    const states = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT state FROM actuator_state WHERE zone = 'esl' AND actuator = 'ventilation'`).then((x) => (x.length ? x : undefined)), 'the light’s state');
    expect(JSON.parse(String(states[0]!['state']))).toMatchObject({ state: 'off' });
    expect(await deadLettersOf('desk-node/light/desk/state')).toEqual([]);

    const light = await collect(firmware, 'desk-node/light/desk/command');
    await firmware.publishAsync('sensors/fw/esl/t1/temperature', JSON.stringify({ value: 30, id: 'fw-hot-esl' }), { qos: 1 });
    expect((await light.next()).json()).toEqual({ state: 'ON' });
  });
});

describe('Zigbee2MQTT', () => {
  it('attribute_and_json output: each key alone on <name>/<key> is a copy, not a dead letter', async () => {
    // Koenkk/zigbee2mqtt lib/controller.ts publishEntityState → iteratePayloadAttributeOutput; its test
    // 'Publish entity state attribute_json output': zigbee2mqtt/bulb/state "ON", …/brightness "200".
    await firmware.publishAsync('zigbee2mqtt/bulb', '{"state":"ON","brightness":200,"color_temp":370,"linkquality":99}', { qos: 1 });
    for (const [key, value] of [['state', 'ON'], ['brightness', '200'], ['color_temp', '370'], ['linkquality', '99']]) await firmware.publishAsync(`zigbee2mqtt/bulb/${key}`, value!, { qos: 1 });
    for (const key of ['brightness', 'color_temp']) expect(await deadLettersOf(`zigbee2mqtt/bulb/${key}`)).toEqual([]);
  });
});
