/**
 * Two more things real firmware does that the gateway once got wrong, end to end: real MQTT
 * clients act as the devices, publishing what their firmware publishes (source beside each), into a
 * real gateway with a device map; what came of it is read from the real InfluxDB or received by
 * the device on the topic it listens on.
 *
 * - Shelly Gen1 colour lights (RGBW2, Bulb, Bulb RGBW) have no relay: they listen on
 *   `color/0/command`, and an RGBW2 in white mode on `white/<n>/command`; their state comes on
 *   `color/0/status` / `white/<n>/status` and confirms the command;
 * - Zigbee2MQTT with `advanced.output: attribute` publishes no JSON, only each key alone on
 *   `<base>/<name>/<key>`: those are the readings.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const STRIP = 'shellyrgbw2-11ABD9';
const SPOTS = 'shellyrgbw2-2B906F';
const BULB = 'shellycolorbulb-485519EE12A7';

let gw: TestGateway;
let firmware: MqttClient;
const sq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Everything the firmware client published before this is handled once a sentinel's dead letter is in InfluxDB. */
async function settled(): Promise<void> {
  const sentinel = `sentinel/${Math.random().toString(16).slice(2)}`;
  await firmware.publishAsync(sentinel, 'x', { qos: 1 });
  await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT count(payload) FROM deadletters WHERE topic = ${sq(sentinel)}`)).length > 0, 'the sentinel dead letter');
}

const stored = (q: string, what: string) => waitFor(() => rows(gw.influxUrl, gw.db, q).then((x) => (x.length ? x : undefined)), what);

beforeAll(async () => {
  gw = await startWithMap(
    {
      devices: {
        'zigbee2mqtt:attr_th': { site: 'lx', zone: 'z2a', device: 'th' },
        'zigbee2mqtt:attr_door': { site: 'lx', zone: 'z2a', device: 'door' },
        'zigbee2mqtt:json_th': { site: 'lx', zone: 'z2j', device: 'th' },
      },
      actuators: {
        'lx/strip/ventilation': `shelly:${STRIP}`,
        'lx/spots/ventilation': { device: `shelly:${SPOTS}`, channel: 1 },
        'lx/bulb/ventilation': `shelly:${BULB}`,
      },
    },
    { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') },
  );
  firmware = await connect(gw.mqttUrl, { clientId: 'native-lights-attributes' });
});
afterAll(async () => {
  await firmware?.endAsync();
  await gw?.stop();
});

describe('Shelly Gen1 colour lights', () => {
  it('RGBW2 in colour mode: switched on color/0/command, its color/0/status confirms it', async () => {
    const device = await collect(firmware, `shellies/${STRIP}/#`);
    await firmware.publishAsync('sensors/lx/strip/t1/temperature', JSON.stringify({ value: 30, id: 'lx-hot-strip' }), { qos: 1 });
    const sent = await device.next((m) => m.topic.endsWith('/command'));
    // wiki.loxberry.de shellyrgbw2 (the Gen1 API's RGBW2 MQTT section): "color/0/command accepts on and off".
    expect({ topic: sent.topic, payload: sent.payload }).toEqual({ topic: `shellies/${STRIP}/color/0/command`, payload: 'on' });
    // What the RGBW2 then reports (the same page's mosquitto_sub of color/0/status).
    await firmware.publishAsync(`shellies/${STRIP}/color/0/status`, '{"ison":true,"red":34,"green":34,"blue":34,"white":34,"gain":5,"effect":0,"power":0.00,"overpower":false}', { qos: 1 });
    const states = await stored(`SELECT state, device FROM actuator_state WHERE zone = 'strip' AND actuator = 'ventilation'`, 'the strip’s state');
    expect(states.map((s) => [JSON.parse(String(s['state'])) as object, s['device']])).toEqual([[{ state: 'on' }, `shelly:${STRIP}`]]);
  });

  it('RGBW2 in white mode (its announce says so): switched on white/<n>/command, confirmed by white/<n>/status', async () => {
    // At each connection a Gen1 announces itself; ioBroker.shelly src/lib/protocol/mqtt.ts takes the mode from it.
    await firmware.publishAsync('shellies/announce', `{"id":"${SPOTS}","model":"SHRGBW2","mac":"E8DB842B906F","ip":"192.168.1.61","new_fw":false,"fw_ver":"20221027-100516/v1.12.1-ga9117d3","mode":"white"}`, { qos: 1 });
    await settled();
    const device = await collect(firmware, `shellies/${SPOTS}/#`);
    await firmware.publishAsync('sensors/lx/spots/t1/temperature', JSON.stringify({ value: 30, id: 'lx-hot-spots' }), { qos: 1 });
    const sent = await device.next((m) => m.topic.endsWith('/command'));
    // Schnittcher/IPS-Shelly ShellyRGBW2/module.php SwitchMode: `<mode>/<channel>/command`, on/off.
    expect({ topic: sent.topic, payload: sent.payload }).toEqual({ topic: `shellies/${SPOTS}/white/1/command`, payload: 'on' });
    // The same module's comment: shellies/shellyrgbw2-2B906F/white/1/status as the RGBW2 sent it (here after switching on).
    await firmware.publishAsync(`shellies/${SPOTS}/white/1/status`, '{"ison":true,"mode":"white","brightness":16,"power":0.00,"overpower":false}', { qos: 1 });
    const states = await stored(`SELECT state FROM actuator_state WHERE zone = 'spots' AND actuator = 'ventilation'`, 'the spots’ state');
    expect(JSON.parse(String(states[0]!['state']))).toEqual({ state: 'on', brightness: 16 });
  });

  it('Bulb RGBW: switched on color/0/command', async () => {
    const device = await collect(firmware, `shellies/${BULB}/#`);
    await firmware.publishAsync('sensors/lx/bulb/t1/temperature', JSON.stringify({ value: 30, id: 'lx-hot-bulb' }), { qos: 1 });
    const sent = await device.next((m) => m.topic.endsWith('/command'));
    // ioBroker.shelly src/lib/devices/gen1/shellycolorbulb.ts lights.Switch: mqtt_cmd 'shellies/<mqttprefix>/color/0/command'.
    expect({ topic: sent.topic, payload: sent.payload }).toEqual({ topic: `shellies/${BULB}/color/0/command`, payload: 'on' });
  });
});

describe('Zigbee2MQTT with advanced.output: attribute', () => {
  // Koenkk/zigbee2mqtt lib/controller.ts publishEntityState, output `attribute`: no JSON, each key of
  // the state alone (iteratePayloadAttributeOutput: a string as is, numbers and booleans stringify()'d).
  it('each attribute message is a reading, in the contract’s units and polarity', async () => {
    for (const [key, value] of [['battery', '97'], ['humidity', '48.2'], ['temperature', '21.5'], ['linkquality', '72']]) await firmware.publishAsync(`zigbee2mqtt/attr_th/${key}`, value!, { qos: 1 });
    // contact true = closed in Zigbee2MQTT; the contract's true = open (stored 1).
    await firmware.publishAsync('zigbee2mqtt/attr_door/contact', 'true', { qos: 1 });
    for (const [kind, device, value] of [['temperature', 'th', 21.5], ['humidity', 'th', 48.2], ['battery', 'th', 97], ['contact', 'door', 0]] as const) {
      const got = await stored(`SELECT value FROM "${kind}" WHERE zone = 'z2a' AND device = '${device}'`, `${kind} of ${device}`);
      expect(got.map((r) => r['value'])).toEqual([value]);
    }
  });

  it('a bad value is a dead letter naming the device and key; set, get and availability are not attributes', async () => {
    await firmware.publishAsync('zigbee2mqtt/attr_th/temperature', 'n/a', { qos: 1 });
    await firmware.publishAsync('zigbee2mqtt/attr_th/set', '{"state":"ON"}', { qos: 1 });
    await firmware.publishAsync('zigbee2mqtt/attr_th/get', '{"temperature":""}', { qos: 1 });
    await firmware.publishAsync('zigbee2mqtt/attr_th/availability', '{"state":"online"}', { qos: 1 });
    await settled();
    const letters = await rows(gw.influxUrl, gw.db, `SELECT reason, detail, topic FROM deadletters WHERE topic =~ /^zigbee2mqtt\\/attr_th/`);
    expect(letters.map((l) => [l['topic'], l['reason'], l['detail']])).toEqual([['zigbee2mqtt/attr_th/temperature', 'invalid_payload', 'zigbee2mqtt:attr_th: temperature is "n/a", not a number']]);
    expect((await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE zone = 'z2a' AND device = 'th'`)).length).toBe(1);
  });

  it('a device that sends its JSON state too (attribute_and_json): its attribute copies are not stored again', async () => {
    await firmware.publishAsync('zigbee2mqtt/json_th', '{"temperature":22.5,"humidity":50}', { qos: 1 });
    await firmware.publishAsync('zigbee2mqtt/json_th/temperature', '22.5', { qos: 1 });
    await firmware.publishAsync('zigbee2mqtt/json_th/humidity', '50', { qos: 1 });
    await settled();
    expect((await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE zone = 'z2j'`)).map((r) => r['value'])).toEqual([22.5]);
    expect((await rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE zone = 'z2j'`)).map((r) => r['value'])).toEqual([50]);
  });
});
