/**
 * What the router learns from one message and uses for the next: a Gen1 Shelly colour light's
 * topics (RGBW2 colour or white mode, Bulb), and a Zigbee2MQTT bridge's `advanced.output`
 * (attribute messages decoded when they are the device's only state, copies when JSON comes too).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineKinds, releaseKinds } from '../../../gateway/core/kinds.js';
import { encode } from '../../../gateway/devices/families/shelly.js';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { NativeRouter, type NativeOutcome } from '../../../gateway/devices/router.js';

const owner = {};
afterEach(() => releaseKinds(owner));

function router(yaml: string): NativeRouter {
  const map = parseDeviceMap('devices.yaml', yaml);
  expect(defineKinds(owner, map.kinds)).toEqual([]);
  return new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, map);
}
const send = (r: NativeRouter, topic: string, payload: string, hint?: Parameters<NativeRouter['route']>[3]): NativeOutcome => r.route(topic, Buffer.from(payload), Date.UTC(2026, 10, 28), hint);
const readings = (o: NativeOutcome) => (o.outcome === 'placed' ? o.readings.map((x) => [x.kind, x.value]) : o);

// Koenkk/zigbee2mqtt lib/controller.ts publishEntityState: with advanced.output `attribute` only
// iteratePayloadAttributeOutput runs: each key on `<name>/<key>`, a string as is, anything else
// stringify()'d (21.5, true), null as '', nested objects as `<key>-<sub>`.
const Z2M_MAP = `devices:
  zigbee2mqtt:th1: { site: hq, zone: f1 }
  zigbee2mqtt:door: { site: hq, zone: f1 }
  zigbee2mqtt:trv: { site: hq, zone: f2 }
  zigbee2mqtt:hq/f3/weather: { site: hq, zone: f3, device: weather }
`;

describe('Zigbee2MQTT with advanced.output: attribute', () => {
  it('stores one reading per attribute message, in the contract’s units and polarity', () => {
    const r = router(Z2M_MAP);
    expect(readings(send(r, 'zigbee2mqtt/th1/temperature', '21.5'))).toEqual([['temperature', 21.5]]);
    expect(readings(send(r, 'zigbee2mqtt/th1/humidity', '48'))).toEqual([['humidity', 48]]);
    expect(readings(send(r, 'zigbee2mqtt/th1/battery', '97'))).toEqual([['battery', 97]]);
    // Zigbee2MQTT's contact true means closed; the contract's true means open.
    expect(readings(send(r, 'zigbee2mqtt/door/contact', 'true'))).toEqual([['contact', false]]);
    // A friendly name with `/` (one that places itself) keeps its attributes apart.
    expect(readings(send(r, 'zigbee2mqtt/hq/f3/weather/occupancy', 'false'))).toEqual([['occupancy', false]]);
    // Keys that name no kind are counted on the device, not stored.
    expect(send(r, 'zigbee2mqtt/th1/linkquality', '72')).toMatchObject({ outcome: 'placed', readings: [] });
    expect(r.registry.get('zigbee2mqtt', 'th1')?.unmapped.get('linkquality')).toBe(1);
  });

  it('a bad value is a dead letter naming device and key, as in the JSON path', () => {
    const r = router(Z2M_MAP);
    expect(send(r, 'zigbee2mqtt/th1/temperature', 'n/a')).toEqual({ outcome: 'failure', family: 'zigbee2mqtt', nativeId: 'th1', detail: 'zigbee2mqtt:th1: temperature is "n/a", not a number' });
    expect(send(r, 'zigbee2mqtt/door/contact', 'maybe')).toMatchObject({ outcome: 'failure', detail: 'zigbee2mqtt:door: contact is "maybe", not a boolean' });
  });

  it('state and state_<n> are the actuator’s state', () => {
    const r = router(`devices:\n  zigbee2mqtt:plug: { site: hq, zone: f1 }\nactuators:\n  hq/f1/fan: zigbee2mqtt:plug\n  hq/f1/lamp: { device: zigbee2mqtt:plug, channel: l2 }\n`);
    expect(send(r, 'zigbee2mqtt/plug/state', 'ON')).toMatchObject({ outcome: 'placed', actuators: [{ actuator: { target: 'hq/f1/fan' }, state: { state: 'on' } }] });
    expect(send(r, 'zigbee2mqtt/plug/state_l2', 'OFF')).toMatchObject({ outcome: 'placed', actuators: [{ actuator: { target: 'hq/f1/lamp' }, state: { state: 'off' } }] });
  });

  it('commands, availability and the bridge’s own topics are not attributes', () => {
    const r = router(Z2M_MAP);
    expect(send(r, 'zigbee2mqtt/th1/set', '{"state":"ON"}')).toMatchObject({ outcome: 'recognised', what: 'command (set)' });
    expect(send(r, 'zigbee2mqtt/th1/get', '{"temperature":""}')).toMatchObject({ outcome: 'recognised', what: 'command (get)' });
    expect(send(r, 'zigbee2mqtt/th1/set/temperature', '21')).toMatchObject({ outcome: 'recognised', what: 'command (set/temperature)' });
    expect(send(r, 'zigbee2mqtt/th1/availability', 'online')).toMatchObject({ outcome: 'placed', statuses: [{ online: true }] });
    expect(send(r, 'zigbee2mqtt/bridge/logging', '{"level":"info","message":"x"}')).toMatchObject({ outcome: 'recognised', nativeId: 'bridge' });
    expect(send(r, 'zigbee2mqtt/bridge/state', 'online')).toMatchObject({ family: 'zigbee2mqtt', nativeId: 'bridge' });
    expect(send(r, 'zigbee2mqtt/bridge/info', '{"version":"2.6.0","config":{"advanced":{"output":"attribute"}}}')).toMatchObject({ outcome: 'recognised', nativeId: 'bridge' });
  });

  it('a device whose JSON state comes too (attribute_and_json): its attributes are copies, stored once', () => {
    const r = router(Z2M_MAP);
    expect(readings(send(r, 'zigbee2mqtt/th1', '{"temperature":21.5,"humidity":48}'))).toEqual([['temperature', 21.5], ['humidity', 48]]);
    expect(send(r, 'zigbee2mqtt/th1/temperature', '21.5')).toMatchObject({ outcome: 'recognised', what: expect.stringContaining('a copy of the JSON state') });
    // Another device of the same bridge that sends no JSON is read from its attributes.
    expect(readings(send(r, 'zigbee2mqtt/door/contact', 'false'))).toEqual([['contact', true]]);
  });

  it('bridge/info says the output: attribute_and_json makes copies before any JSON, attribute reads even after one', () => {
    const r = router(Z2M_MAP);
    // Koenkk/zigbee2mqtt lib/extension/bridge.ts publishInfo: {…, "config": settings.get() (without secrets), …}, retained.
    send(r, 'zigbee2mqtt/bridge/info', JSON.stringify({ version: '2.6.0', config: { advanced: { output: 'attribute_and_json', last_seen: 'ISO_8601' } } }));
    expect(send(r, 'zigbee2mqtt/th1/temperature', '21.5')).toMatchObject({ outcome: 'recognised' });
    send(r, 'zigbee2mqtt/th1', '{"temperature":21.5}');
    send(r, 'zigbee2mqtt/bridge/info', JSON.stringify({ version: '2.6.0', config: { advanced: { output: 'attribute' } } }));
    expect(readings(send(r, 'zigbee2mqtt/th1/temperature', '21.6'))).toEqual([['temperature', 21.6]]);
  });

  it('reads the output from a bridge/info past 256 KiB (a large network: every device’s options are in its config)', () => {
    const r = router(Z2M_MAP);
    const devices = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`0x${i.toString(16).padStart(16, '0')}`, { friendly_name: `device_${i}`, retain: false, optimistic: true }]));
    const info = JSON.stringify({ version: '2.6.0', config: { advanced: { output: 'attribute' }, devices } });
    expect(info.length).toBeGreaterThan(256 * 1024);
    send(r, 'zigbee2mqtt/th1', '{"temperature":21.5}');
    send(r, 'zigbee2mqtt/bridge/info', info);
    expect(readings(send(r, 'zigbee2mqtt/th1/temperature', '21.6'))).toEqual([['temperature', 21.6]]);
  });

  it('a restarted bridge (bridge/state online) is asked again: JSON seen before no longer makes copies', () => {
    const r = router(Z2M_MAP);
    send(r, 'zigbee2mqtt/th1', '{"temperature":21.5}');
    expect(send(r, 'zigbee2mqtt/th1/temperature', '21.5')).toMatchObject({ outcome: 'recognised' });
    send(r, 'zigbee2mqtt/bridge/state', '{"state":"online"}');
    expect(readings(send(r, 'zigbee2mqtt/th1/temperature', '21.7'))).toEqual([['temperature', 21.7]]);
  });

  it('restored at the gateway’s start (relearn), a retained bridge/info still says the output, and a retained bridge/state online after it does not undo it', () => {
    const r = router(Z2M_MAP);
    const restored = (topic: string, payload: string) => r.relearn(topic, Buffer.from(payload), Date.UTC(2026, 10, 28));
    expect(restored('zigbee2mqtt/bridge/info', JSON.stringify({ version: '2.6.0', config: { advanced: { output: 'attribute_and_json' } } }))).toBe(true);
    // It tells the bridge's state (online), not its restart.
    expect(restored('zigbee2mqtt/bridge/state', '{"state":"online"}')).toBe(true);
    // Learning is not news: no device entered in the registry.
    expect(r.registry.size).toBe(0);
    expect(send(r, 'zigbee2mqtt/th1/temperature', '21.5')).toMatchObject({ outcome: 'recognised', what: expect.stringContaining('a copy of the JSON state') });
  });

  it('a stand-in key (local_temperature) counts only once the device is known to have no first choice (temperature)', () => {
    const r = router(Z2M_MAP);
    // A TRV: every publish repeats every key (advanced.cache_state, on by default), so by the second
    // local_temperature the device has shown all its keys.
    expect(send(r, 'zigbee2mqtt/trv/local_temperature', '19.5')).toMatchObject({ outcome: 'placed', readings: [] });
    expect(readings(send(r, 'zigbee2mqtt/trv/local_temperature', '19.6'))).toEqual([['temperature', 19.6]]);
    // A sensor (older Zigbee2MQTT) with illuminance (raw) and illuminance_lux: only lux is stored.
    send(r, 'zigbee2mqtt/th1/illuminance', '30103');
    expect(readings(send(r, 'zigbee2mqtt/th1/illuminance_lux', '1023'))).toEqual([['illuminance', 1023]]);
    expect(send(r, 'zigbee2mqtt/th1/illuminance', '30103')).toMatchObject({ outcome: 'placed', readings: [] });
  });

  it('a redriven attribute message teaches nothing', () => {
    const r = router(Z2M_MAP);
    r.route('zigbee2mqtt/th1', Buffer.from('{"temperature":21}'), Date.UTC(2026, 10, 28), undefined, true);
    expect(readings(send(r, 'zigbee2mqtt/th1/temperature', '21.5'))).toEqual([['temperature', 21.5]]);
  });
});

describe('Shelly Gen1 colour lights', () => {
  const MAP = `devices:
  shelly:shellyrgbw2-AABBCC: { site: hq, zone: f1 }
  shelly:shellybulb-DDEEFF: { site: hq, zone: f1 }
actuators:
  hq/f1/strip: shelly:shellyrgbw2-AABBCC
  hq/f1/spot: { device: shelly:shellyrgbw2-AABBCC, channel: 2 }
  hq/f1/bulb: shelly:shellybulb-DDEEFF
`;
  it('RGBW2 in colour mode: color/0/status is the light’s confirmed state', () => {
    const r = router(MAP);
    // wiki.loxberry.de shellyrgbw2 (mosquitto_sub of a real RGBW2 in color mode).
    expect(send(r, 'shellies/shellyrgbw2-AABBCC/color/0/status', '{"ison":true,"red":34,"green":34,"blue":34,"white":34,"gain":5,"effect":0,"power":0.00,"overpower":false}')).toMatchObject({
      outcome: 'placed',
      actuators: [{ actuator: { target: 'hq/f1/strip' }, state: { state: 'on' } }],
    });
    expect(send(r, 'shellies/shellyrgbw2-AABBCC/color/0', 'off')).toMatchObject({ outcome: 'placed', actuators: [{ state: { state: 'off' } }] });
    expect(r.learnt.shellyLightMode('shellyrgbw2-AABBCC')).toBe('color');
  });

  it('RGBW2 in white mode: white/<n>/status per channel, with its brightness; the mode is learnt', () => {
    const r = router(MAP);
    // Schnittcher/IPS-Shelly ShellyRGBW2/module.php: shellies/shellyrgbw2-2B906F/white/1/status as an RGBW2 sent it.
    expect(send(r, 'shellies/shellyrgbw2-AABBCC/white/2/status', '{"ison":false,"mode":"white","brightness":16,"power":0.00,"overpower":false}')).toMatchObject({
      outcome: 'placed',
      actuators: [{ actuator: { target: 'hq/f1/spot' }, state: { state: 'off', brightness: 16 } }],
    });
    expect(r.learnt.shellyLightMode('shellyrgbw2-AABBCC')).toBe('white');
  });

  it('an RGBW2’s announce says its mode before any report', () => {
    const r = router(MAP);
    // iobroker-community-adapters/ioBroker.shelly src/lib/protocol/mqtt.ts reads `mode` from shellies/announce.
    send(r, 'shellies/announce', '{"id":"shellyrgbw2-AABBCC","model":"SHRGBW2","mac":"E8DB84AABBCC","ip":"192.168.1.61","new_fw":false,"fw_ver":"20221027-100516/v1.12.1-ga9117d3","mode":"white"}');
    expect(r.learnt.shellyLightMode('shellyrgbw2-AABBCC')).toBe('white');
    // A bulb's mode does not move its topics (color/0 in both): its announce teaches nothing.
    send(r, 'shellies/announce', '{"id":"shellybulb-DDEEFF","model":"SHBLB-1","mac":"X","ip":"192.168.1.62","new_fw":false,"fw_ver":"v1.9.0","mode":"white"}');
    expect(r.learnt.shellyLightMode('shellybulb-DDEEFF')).toBeUndefined();
  });

  it('from a Shelly’s own credential, an announce naming another device teaches nothing and is a failure naming both', () => {
    const r = router(MAP);
    const hint = { family: 'shelly' as const, nativeId: 'shellyrgbw2-2B906F' };
    const out = send(r, 'shellies/announce', '{"id":"shellyrgbw2-AABBCC","model":"SHRGBW2","mac":"E8DB84AABBCC","mode":"white"}', hint);
    expect(out).toEqual({ outcome: 'failure', family: 'shelly', nativeId: 'shellyrgbw2-2B906F', detail: expect.stringMatching(/^shelly:shellyrgbw2-2B906F: .*shellyrgbw2-AABBCC/) });
    expect(r.learnt.shellyLightMode('shellyrgbw2-AABBCC')).toBeUndefined();
    // Its own announce, on either topic, teaches as before; a client no credential binds to one device (admin, anonymous) too.
    expect(send(r, 'shellies/announce', '{"id":"shellyrgbw2-2B906F","model":"SHRGBW2","mode":"white"}', hint).outcome).toBe('recognised');
    expect(r.learnt.shellyLightMode('shellyrgbw2-2B906F')).toBe('white');
    send(r, 'shellies/shellyrgbw2-2B906F/announce', '{"id":"shellyrgbw2-2B906F","model":"SHRGBW2","mode":"color"}', hint);
    expect(r.learnt.shellyLightMode('shellyrgbw2-2B906F')).toBe('color');
    send(r, 'shellies/announce', '{"id":"shellyrgbw2-AABBCC","model":"SHRGBW2","mode":"white"}');
    expect(r.learnt.shellyLightMode('shellyrgbw2-AABBCC')).toBe('white');
  });

  it('commands go to color/0/command or white/<n>/command, not relay/', () => {
    expect(encode('shellyrgbw2-AABBCC', undefined, { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'shellies/shellyrgbw2-AABBCC/color/0/command', payload: 'on' }] });
    expect(encode('shellyrgbw2-AABBCC', '0', { state: 'off' }, { shellyLightMode: 'white' })).toEqual({ ok: true, publishes: [{ topic: 'shellies/shellyrgbw2-AABBCC/white/0/command', payload: 'off' }] });
    // Channels 1–3 exist only in white mode.
    expect(encode('shellyrgbw2-AABBCC', '2', { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'shellies/shellyrgbw2-AABBCC/white/2/command', payload: 'on' }] });
    expect(encode('shellyrgbw2-AABBCC', '2', { state: 'on' }, { shellyLightMode: 'color' })).toMatchObject({ ok: false, reason: expect.stringContaining('color mode') });
    for (const id of ['shellybulb-DDEEFF', 'shellycolorbulb-485519EE12A7', 'ShellyColorBulb-B929CC']) {
      expect(encode(id, undefined, { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: `shellies/${id}/color/0/command`, payload: 'on' }] });
    }
    // A device under a custom MQTT id that reports on color/…: what it reports on wins over its id.
    expect(encode('kitchen-strip', undefined, { state: 'on' }, { shellyLightMode: 'color' })).toMatchObject({ ok: true, publishes: [{ topic: 'shellies/kitchen-strip/color/0/command' }] });
    // The Duo (white only) keeps light/0.
    expect(encode('ShellyBulbDuo-34945479CFA4', undefined, { state: 'on' })).toMatchObject({ ok: true, publishes: [{ topic: 'shellies/ShellyBulbDuo-34945479CFA4/light/0/command' }] });
  });
});
