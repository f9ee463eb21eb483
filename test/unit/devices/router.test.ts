import { afterEach, describe, expect, it } from 'vitest';
import { defineKinds, releaseKinds } from '../../../gateway/core/kinds.js';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { NativeRouter, type NativeOutcome } from '../../../gateway/devices/router.js';

const owner = {};
afterEach(() => releaseKinds(owner));

function router(yaml: string): NativeRouter {
  const map = parseDeviceMap('devices.yaml', yaml);
  expect(defineKinds(owner, map.kinds)).toEqual([]);
  return new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, map);
}
const send = (r: NativeRouter, topic: string, payload: string | object, hint?: Parameters<NativeRouter['route']>[3]): NativeOutcome =>
  r.route(topic, Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), Date.UTC(2026, 10, 27), hint);
const placed = (o: NativeOutcome) => {
  if (o.outcome !== 'placed') throw new Error(`expected placed, got ${JSON.stringify(o)}`);
  return o;
};

describe('the native router', () => {
  it('lists no device for a cleared retained message (Zigbee2MQTT empties <name>/availability when a device is renamed or removed)', () => {
    const r = router('devices: {}\n');
    expect(send(r, 'zigbee2mqtt/heater_plug/availability', '')).toMatchObject({ outcome: 'recognised' });
    expect(r.registry.get('zigbee2mqtt', 'heater_plug/availability')).toBeUndefined();
    expect(r.registry.get('zigbee2mqtt', 'heater_plug')).toBeUndefined();
  });

  it('places each channel where the map says, and the rest of the device by its entry without a channel', () => {
    const r = router(`devices:
  tasmota:caldera:
    - { site: hq, zone: cellar, device: flow, channel: DS18B20-1 }
    - { site: hq, zone: cellar, device: return, channel: DS18B20-2 }
    - { site: hq, zone: cellar, device: boiler }
`);
    const o = placed(send(r, 'tele/caldera/SENSOR', '{"DS18B20-1":{"Temperature":21.4},"DS18B20-2":{"Temperature":21.8},"DS18B20-3":{"Temperature":21.7},"DS18B20-4":{"Temperature":21.5}}'));
    expect(o.readings.map((x) => [x.device, x.kind, x.value])).toEqual([
      ['flow', 'temperature', 21.4],
      ['return', 'temperature', 21.8],
      ['boiler', 'temperature', 21.7],
    ]);
    // The fourth had nowhere to go: a second temperature of `boiler`. Counted, not lost silently.
    expect(r.registry.get('tasmota', 'caldera')?.unmapped.get('DS18B20-4.Temperature (channel DS18B20-4: no placement)')).toBe(1);
  });

  it('stores keys as the kinds the map adds, converts with a key rule, ignores what it is told to, and counts the rest', () => {
    const r = router(`kinds:
  pressure: { unit: hPa, min: 300, max: 1100 }
  voltage: { unit: V, min: 0, max: 1000 }
devices:
  zigbee2mqtt:weather: { site: hq, zone: f1, keys: { voltage: { kind: voltage, scale: 0.001 }, linkquality: ignore } }
`);
    const o = placed(send(r, 'zigbee2mqtt/weather', { battery: 97, humidity: 58.5, linkquality: 72, power_outage_count: 11574, pressure: 1001.8, temperature: 22.4, voltage: 2995 }));
    expect(o.readings.map((x) => [x.kind, x.value])).toEqual([
      ['battery', 97],
      ['humidity', 58.5],
      ['pressure', 1001.8],
      ['temperature', 22.4],
      ['voltage', 2.995],
    ]);
    expect(o.problems).toEqual([]);
    const e = r.registry.get('zigbee2mqtt', 'weather')!;
    expect([...e.unmapped]).toEqual([['power_outage_count', 1]]);
    expect([...e.kinds].sort()).toEqual(['battery', 'humidity', 'pressure', 'temperature', 'voltage']);
    expect(e.battery).toBe(97);
    // Tasmota says its pressure unit: mmHg (SetOption24) is converted to the kind's; one that is no pressure unit is a problem, not a wrong number.
    const t = router(`kinds:
  pressure: { unit: hPa, min: 300, max: 1100 }
devices:
  tasmota:ws: { site: hq, zone: roof }
`);
    expect(placed(send(t, 'tele/ws/SENSOR', '{"BME280":{"Temperature":20.1,"Pressure":1013.2},"PressureUnit":"hPa","TempUnit":"C"}')).readings.map((x) => x.kind)).toEqual(['temperature', 'pressure']);
    const mm = placed(send(t, 'tele/ws/SENSOR', '{"BME280":{"Temperature":20.1,"Pressure":760.0},"PressureUnit":"mmHg","TempUnit":"C"}'));
    expect([mm.problems, mm.readings.find((x) => x.kind === 'pressure')?.value]).toEqual([[], 1013.25]);
    expect(placed(send(t, 'tele/ws/SENSOR', '{"BME280":{"Temperature":20.1,"Pressure":14.7},"PressureUnit":"psi","TempUnit":"C"}')).problems).toEqual(['tasmota:ws: BME280.Pressure is in psi, kind pressure is in hPa']);
  });

  it('lists a device the map does not place as waiting, and places Zigbee2MQTT names of the form site/zone/device by themselves', () => {
    const r = router('');
    expect(send(r, 'zigbee2mqtt/garden', { temperature: 12 })).toMatchObject({ outcome: 'unassigned', family: 'zigbee2mqtt', nativeId: 'garden' });
    expect(send(r, 'zigbee2mqtt/garden/availability', 'online')).toMatchObject({ outcome: 'recognised' });
    expect(r.registry.get('zigbee2mqtt', 'garden')?.online).toBe(true);
    expect(placed(send(r, 'zigbee2mqtt/hq/attic/th-9', { temperature: 19 })).readings[0]).toMatchObject({ site: 'hq', zone: 'attic', device: 'th-9' });
  });

  it('takes the bridge offline with its devices, and back to what each said of itself', () => {
    const r = router(`devices:
  zigbee2mqtt:a: { site: hq, zone: f1 }
  zigbee2mqtt:b: { site: hq, zone: f1 }
`);
    send(r, 'zigbee2mqtt/a', { temperature: 20 });
    send(r, 'zigbee2mqtt/b/availability', '{"state":"offline"}');
    expect(placed(send(r, 'zigbee2mqtt/bridge/state', '{"state":"offline"}')).statuses).toEqual([
      { device: 'a', online: false },
      { device: 'b', online: false },
    ]);
    expect(placed(send(r, 'zigbee2mqtt/bridge/state', 'online')).statuses).toEqual([
      { device: 'a', online: true },
      { device: 'b', online: false },
    ]);
  });

  it('merges an actuator’s reports (an ESPHome climate reports mode and setpoint on separate topics)', () => {
    const r = router(`actuators:
  hq/f4/hvac: { device: esphome:f4-node, channel: hvac }
`);
    expect(placed(send(r, 'f4-node/climate/hvac/mode/state', 'cool')).actuators[0]).toMatchObject({ actuator: { target: 'hq/f4/hvac' }, state: { mode: 'cool' } });
    expect(placed(send(r, 'f4-node/climate/hvac/target_temperature/state', '22')).actuators[0]?.state).toEqual({ mode: 'cool', setpoint: 22 });
    const lights = router(`actuators:
  hq/f4/lights: { device: esphome:f4-node, channel: light:ceiling }
`);
    expect(placed(send(lights, 'f4-node/light/ceiling/state', '{"state":"ON","brightness":128}')).actuators[0]).toMatchObject({ actuator: { target: 'hq/f4/lights' }, state: { state: 'on', brightness: 128 } });
    const fan = router(`actuators:
  hq/f4/fan: { device: esphome:f4-node, channel: fan:ceiling_fan }
`);
    expect(placed(send(fan, 'f4-node/fan/ceiling_fan/state', 'ON')).actuators[0]).toMatchObject({ actuator: { target: 'hq/f4/fan' }, state: { state: 'on' } });
    // The actuator entry places the node's readings at its site and zone.
    expect(placed(send(r, 'f4-node/climate/hvac/current_temperature/state', '24.5')).readings[0]).toMatchObject({ site: 'hq', zone: 'f4', device: 'f4-node', kind: 'temperature', value: 24.5 });
  });

  it('learns ESPHome kinds from the node’s discovery configs, and one availability topic for every device that shares it', () => {
    const r = router(`devices:
  esphome:garagedoor1: { site: hq, zone: garage }
  homeassistant:dev-a: { site: hq, zone: a }
  homeassistant:dev-b: { site: hq, zone: b }
`);
    expect(send(r, 'garagedoor1/sensor/air/state', '21.5')).toMatchObject({ outcome: 'placed', readings: [] });
    send(r, 'homeassistant/sensor/garagedoor1/air/config', { dev_cla: 'temperature', unit_of_meas: '°C', stat_t: 'garagedoor1/sensor/air/state', dev: { ids: 'esp1' } });
    expect(placed(send(r, 'garagedoor1/sensor/air/state', '21.5')).readings[0]).toMatchObject({ kind: 'temperature', value: 21.5 });
    for (const id of ['dev-a', 'dev-b']) send(r, `homeassistant/sensor/${id}/t/config`, { stat_t: `lab/${id}`, avty_t: 'lab/bridge', dev_cla: 'temperature', dev: { ids: [id] } });
    expect(placed(send(r, 'lab/bridge', 'offline')).statuses).toEqual([
      { device: 'dev-a', online: false },
      { device: 'dev-b', online: false },
    ]);
  });

  it('remembers a bounded number of discovery configs per device: a flood of configs under one device id does not grow its entry', () => {
    const r = router('');
    for (let i = 0; i < 1000; i++) send(r, `homeassistant/sensor/flood/o${i}/config`, { dev: { ids: 'flood' } });
    for (let i = 0; i < 1000; i++) send(r, `homeassistant/sensor/flood/t${i}/config`, { stat_t: `flood/t${i}`, dev_cla: 'temperature', dev: { ids: 'flood' } });
    const e = r.registry.get('homeassistant', 'flood');
    expect(e?.discovery.get('homeassistant/sensor/flood/o0/config')).toEqual({ refused: 'no state_topic' });
    expect(e?.discovery.size).toBeLessThanOrEqual(100);
  });

  it('forgets a refused discovery config when it is removed (an empty retained config), as it forgets a learnt one', () => {
    const r = router('');
    send(r, 'homeassistant/sensor/lab1/odd/config', { dev: { ids: 'lab1' } });
    send(r, 'homeassistant/sensor/lab1/t/config', { stat_t: 'lab1/t', dev_cla: 'temperature', dev: { ids: 'lab1' } });
    const e = r.registry.get('homeassistant', 'lab1');
    expect([...(e?.discovery.keys() ?? [])].sort()).toEqual(['homeassistant/sensor/lab1/odd/config', 'homeassistant/sensor/lab1/t/config']);
    expect(send(r, 'homeassistant/sensor/lab1/odd/config', '')).toMatchObject({ outcome: 'recognised', nativeId: 'lab1', what: 'discovery config removed' });
    expect(send(r, 'homeassistant/sensor/lab1/t/config', '')).toMatchObject({ outcome: 'recognised', nativeId: 'lab1' });
    expect(e?.discovery.size).toBe(0);
  });

  it('moves a refused config’s note when its topic names another device (refused again, or learnt)', () => {
    const r = router('');
    send(r, 'homeassistant/sensor/shared/odd/config', { dev: { ids: 'dev-x' } });
    expect(r.registry.get('homeassistant', 'dev-x')?.discovery.has('homeassistant/sensor/shared/odd/config')).toBe(true);
    send(r, 'homeassistant/sensor/shared/odd/config', { dev: { ids: 'dev-y' } });
    expect(r.registry.get('homeassistant', 'dev-x')?.discovery.size).toBe(0);
    expect(r.registry.get('homeassistant', 'dev-y')?.discovery.get('homeassistant/sensor/shared/odd/config')).toEqual({ refused: 'no state_topic' });
    send(r, 'homeassistant/sensor/shared/odd/config', { stat_t: 'shared/odd', dev_cla: 'temperature', dev: { ids: 'dev-z' } });
    expect(r.registry.get('homeassistant', 'dev-y')?.discovery.size).toBe(0);
    expect(r.registry.get('homeassistant', 'dev-z')?.discovery.get('homeassistant/sensor/shared/odd/config')).toMatchObject({ component: 'sensor' });
  });

  it('decodes as the credential’s family first', () => {
    const r = router(`devices:
  esphome:node1: { site: x, zone: y }
`);
    expect(send(r, 'node1/status', 'online', { family: 'esphome', nativeId: 'node1' })).toMatchObject({ outcome: 'placed', family: 'esphome' });
    expect(send(r, 'zb/dev1', { temperature: 20 }, { family: 'zigbee2mqtt', base: 'zb' })).toMatchObject({ outcome: 'unassigned', family: 'zigbee2mqtt', nativeId: 'dev1' });
  });

  it('takes a native credential’s discovery config for its own device only, and a device whose announcer removed its configs is free again', () => {
    const r = router('devices: {}\n');
    const desk = { family: 'esphome', nativeId: 'desk-node' } as const;
    const plug = { family: 'tasmota', nativeId: 'plug-1' } as const;
    const dev = { ids: 'b0b0b0b0b0b0', name: 'desk-node' };
    // ESPHome names its device by its MAC: its own config, on its own topics, is learnt.
    expect(send(r, 'homeassistant/switch/desk-node/fan/config', { stat_t: 'desk-node/switch/fan/state', cmd_t: 'desk-node/switch/fan/command', dev }, desk).outcome).toBe('recognised');
    const foreign = { stat_t: 'tele/plug-1/FAN', cmd_t: 'cmnd/plug-1/POWER', dev: { ids: ['b0b0b0b0b0b0'] } };
    const refused = send(r, 'homeassistant/switch/plug-1/fan/config', foreign, plug);
    expect(refused).toMatchObject({ outcome: 'failure', family: 'homeassistant' });
    expect(refused.outcome === 'failure' && refused.detail).toMatch(/names device "b0b0b0b0b0b0", announced by node "desk-node", but this client's credential speaks for tasmota:plug-1 only/);
    expect(r.registry.get('tasmota', 'plug-1')?.problems.at(-1)).toMatch(/announced by node "desk-node"/);
    expect([...r.discovery.entities()].map((e) => e.configTopic)).toEqual(['homeassistant/switch/desk-node/fan/config']);
    // Another device's topics, read or commanded.
    expect(send(r, 'homeassistant/sensor/plug-1/t/config', { stat_t: 'desk-node/sensor/t/state' }, plug)).toMatchObject({ outcome: 'failure', detail: expect.stringMatching(/reads "desk-node\/sensor\/t\/state", a topic tasmota:plug-1 may not publish/) as unknown });
    expect(send(r, 'homeassistant/switch/plug-1/x/config', { stat_t: 'tele/plug-1/X', cmd_t: 'cmnd/boiler/POWER' }, plug)).toMatchObject({ outcome: 'failure', detail: expect.stringMatching(/commands on "cmnd\/boiler\/POWER", a topic tasmota:plug-1 does not listen to/) as unknown });
    // An admin or a bridge (no device of its own) is not held to it.
    expect(send(r, 'homeassistant/sensor/plug-1/t/config', { stat_t: 'desk-node/sensor/t/state' }).outcome).toBe('recognised');
    // Once the desk node's config is removed, the name is nobody's.
    send(r, 'homeassistant/switch/desk-node/fan/config', '', desk);
    expect(send(r, 'homeassistant/switch/plug-1/fan/config', foreign, plug).outcome).toBe('recognised');
  });
});

describe('an ESPHome actuator before it reports', () => {
  // What esphome/components/mqtt sends with `discovery: true` (its default): abbreviated keys, the
  // node's own topics (mqtt_switch.cpp: command_topic; mqtt_climate.cpp: mode_command_topic).
  const dev = (ids: string, name: string) => ({ ids, name, sw: 'esphome v2025.10.0', mdl: 'esp01_1m', mf: 'Espressif' });
  const MAP = `devices:
  esphome:plug-node: { site: hq, zone: e1 }
  esphome:ac-node: { site: hq, zone: e2 }
actuators:
  hq/e1/hvac: { device: esphome:plug-node, channel: relay }
  hq/e2/hvac: { device: esphome:ac-node, channel: hvac }
`;

  it('is a switch once its node’s discovery config says the channel is a switch, a thermostat when a climate', () => {
    const r = router(MAP);
    const form = (target: string) => r.form(r.actuator(target)!);
    expect([form('hq/e1/hvac'), form('hq/e2/hvac')]).toEqual(['thermostat', 'thermostat']);
    send(r, 'homeassistant/switch/plug-node/relay/config', { name: 'Relay', stat_t: 'plug-node/switch/relay/state', cmd_t: 'plug-node/switch/relay/command', avty_t: 'plug-node/status', uniq_id: 'a4cf12ab34cdswitchrelay', dev: dev('a4cf12ab34cd', 'plug-node') });
    send(r, 'homeassistant/climate/ac-node/hvac/config', { name: 'AC', mode_cmd_t: 'ac-node/climate/hvac/mode/command', mode_stat_t: 'ac-node/climate/hvac/mode/state', temp_cmd_t: 'ac-node/climate/hvac/target_temperature/command', temp_stat_t: 'ac-node/climate/hvac/target_temperature/state', modes: ['off', 'cool', 'heat'], avty_t: 'ac-node/status', dev: dev('a4cf12ab34ce', 'ac-node') });
    expect([form('hq/e1/hvac'), form('hq/e2/hvac')]).toEqual(['switch', 'thermostat']);
    // Another node's switch of the same object id is not this one's.
    const other = router(MAP);
    send(other, 'homeassistant/switch/other-node/hvac/config', { name: 'Hvac', cmd_t: 'other-node/switch/hvac/command', stat_t: 'other-node/switch/hvac/state', dev: dev('a4cf12ab34cf', 'other-node') });
    expect(other.form(other.actuator('hq/e2/hvac')!)).toBe('thermostat');
  });

  it('is not made a thermostat by a climate config naming its switch topic, nor by any config once it has reported', () => {
    const r = router(MAP);
    const form = () => r.form(r.actuator('hq/e1/hvac')!);
    // A bridge's config (a Zigbee2MQTT credential: no native id of its own) naming the relay's command topic as a climate's.
    const bridge = { family: 'zigbee2mqtt' as const };
    send(r, 'homeassistant/climate/z2m-thing/x/config', { name: 'X', mode_cmd_t: 'plug-node/switch/relay/command', modes: ['off', 'heat'], dev: dev('z2m-thing', 'thing') }, bridge);
    expect(form()).toBe('thermostat'); // nothing said yet: the default, not the config's doing
    send(r, 'plug-node/switch/relay/state', 'ON');
    expect(form()).toBe('switch');
    // Once the node has said what it is, a config saying otherwise does not change it.
    send(r, 'homeassistant/climate/plug-node/relay/config', { name: 'Relay', mode_cmd_t: 'plug-node/climate/relay/mode/command', modes: ['off', 'heat'], dev: dev('a4cf12ab34cd', 'plug-node') }, bridge);
    expect(form()).toBe('switch');
  });
});

describe('an ESPHome node on GET /api/devices', () => {
  it('is listed once, with its own discovery configs, not a second time by the MAC they name', () => {
    const r = router(`devices:\n  esphome:porch-node: { site: hq, zone: porch }\n`);
    const dev = { ids: 'a0b765f3c1d5', name: 'porch-node', sw: 'esphome v2025.10.0', mdl: 'esp32dev' };
    send(r, 'homeassistant/sensor/porch-node/porch_t/config', { dev_cla: 'temperature', unit_of_meas: '°C', name: 'Porch T', stat_t: 'porch-node/sensor/porch_t/state', avty_t: 'porch-node/status', dev });
    expect(placed(send(r, 'porch-node/sensor/porch_t/state', '21.5')).readings.map((x) => [x.kind, x.value])).toEqual([['temperature', 21.5]]);
    const view = r.registry.view((f, id) => r.placement.placementsOf(f, id));
    expect(view.map((d) => d.key)).toEqual(['esphome:porch-node']);
    expect(Object.keys(view[0]!.discovery ?? {})).toEqual(['homeassistant/sensor/porch-node/porch_t/config']);
  });
});

describe('placements by contract device (what a silence sweep asks)', () => {
  it('lists each native device placing a contract device once, whatever its channels, and no other', () => {
    const r = router(`devices:
  tasmota:caldera:
    - { site: hq, zone: cellar, device: boiler, channel: DS18B20-1 }
    - { site: hq, zone: cellar, device: boiler, channel: DS18B20-2 }
    - { site: hq, zone: cellar, device: flow, channel: DS18B20-3 }
  zigbee2mqtt:0x00158d0001a2b3c4:
    - { site: hq, zone: attic, device: boiler }
  shelly:shellyht-AABBCC:
    - { site: hq, zone: attic, device: attic-air }
`);
    const keys = (device: string) => r.placement.placing(device).map((d) => `${d.family}:${d.nativeId}`);
    expect(keys('boiler')).toEqual(['tasmota:caldera', 'zigbee2mqtt:0x00158d0001a2b3c4']);
    expect(keys('flow')).toEqual(['tasmota:caldera']);
    expect(keys('attic-air')).toEqual(['shelly:shellyht-AABBCC']);
    expect(keys('nobody')).toEqual([]);
  });
});
