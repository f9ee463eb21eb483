import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../gateway/devices/families/zigbee2mqtt.js';
import { zigbee2mqttFixtures } from '../../fixtures/native/zigbee2mqtt.js';
import { expectFixture } from './expect-fixture.js';

describe('Zigbee2MQTT decoder on real messages', () => {
  it.each(zigbee2mqttFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    expectFixture(f, decode(f.topic, Buffer.from(f.payload), f.options));
  });
});

describe('Zigbee2MQTT decoder', () => {
  it('follows a configured base topic and ignores others', () => {
    const r = decode('z2m/room/sensor', Buffer.from('{"temperature":20}'), { zigbee2mqttBaseTopic: 'z2m' });
    expect(r).toMatchObject({ outcome: 'decoded', nativeId: 'room/sensor' });
    expect(decode('zigbee2mqtt/room/sensor', Buffer.from('{"temperature":20}'), { zigbee2mqttBaseTopic: 'z2m' })).toEqual({ outcome: 'not_mine' });
  });

  it('names the device and key of a value that is not a number', () => {
    expect(decode('zigbee2mqtt/th1', Buffer.from('{"temperature":"n/a"}'))).toEqual({ outcome: 'failure', family: 'zigbee2mqtt', nativeId: 'th1', detail: 'zigbee2mqtt:th1: temperature is "n/a", not a number' });
  });

  it('keeps the good readings of a message with one bad value and reports the bad one', () => {
    const r = decode('zigbee2mqtt/th1', Buffer.from('{"temperature":21,"humidity":"n/a"}'));
    expect(r).toMatchObject({ outcome: 'decoded', readings: [{ key: 'temperature', value: 21 }], problems: ['zigbee2mqtt:th1: humidity is "n/a", not a number'] });
  });

  it('refuses a device payload that is not a JSON object', () => {
    expect(decode('zigbee2mqtt/th1', Buffer.from('hello'))).toMatchObject({ outcome: 'failure', detail: 'zigbee2mqtt:th1: payload is not JSON' });
  });

  it('treats an empty payload as a cleared retained message', () => {
    expect(decode('zigbee2mqtt/th1/availability', Buffer.alloc(0))).toMatchObject({ outcome: 'recognised' });
  });

  it('reports multi-channel relays per channel (state_l1, state_l2)', () => {
    const r = decode('zigbee2mqtt/sw', Buffer.from('{"state_l1":"ON","state_l2":"OFF"}'));
    expect(r).toMatchObject({ actuators: [{ channel: 'l1', state: { state: 'on' } }, { channel: 'l2', state: { state: 'off' } }] });
  });

  it('takes the cooling setpoint with mode cool', () => {
    const r = decode('zigbee2mqtt/ac', Buffer.from('{"system_mode":"cool","occupied_heating_setpoint":20,"occupied_cooling_setpoint":24}'));
    expect(r).toMatchObject({ actuators: [{ state: { mode: 'cool', setpoint: 24 } }] });
  });

  it('does not let a "__proto__" key reach any prototype', () => {
    const r = decode('zigbee2mqtt/x', Buffer.from('{"__proto__":{"polluted":1},"temperature":20}'));
    expect(r).toMatchObject({ outcome: 'decoded', otherKeys: ['__proto__'] });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('Zigbee2MQTT commands', () => {
  it('switches with {"state":"ON"} on <base>/<name>/set', () => {
    expect(encode('kitchen/floor_light', undefined, { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'zigbee2mqtt/kitchen/floor_light/set', payload: '{"state":"ON"}' }] });
  });
  it('switches one channel with state_<channel>', () => {
    expect(encode('sw', 'l2', { state: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'zigbee2mqtt/sw/set', payload: '{"state_l2":"OFF"}' }] });
  });
  it('sets system_mode with the heating or cooling setpoint', () => {
    expect(encode('f1_thermostat', undefined, { mode: 'heat', setpoint: 21 })).toEqual({ ok: true, publishes: [{ topic: 'zigbee2mqtt/f1_thermostat/set', payload: '{"system_mode":"heat","occupied_heating_setpoint":21}' }] });
    expect(encode('f1_thermostat', undefined, { mode: 'cool', setpoint: 22 }, { zigbee2mqttBaseTopic: 'z2m' })).toEqual({ ok: true, publishes: [{ topic: 'z2m/f1_thermostat/set', payload: '{"system_mode":"cool","occupied_cooling_setpoint":22}' }] });
    expect(encode('ally', undefined, { attribute: 'occupied_heating_setpoint', setpoint: 5 })).toEqual({ ok: true, publishes: [{ topic: 'zigbee2mqtt/ally/set', payload: '{"occupied_heating_setpoint":5}' }] });
    expect(encode('f1_thermostat', undefined, { mode: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'zigbee2mqtt/f1_thermostat/set', payload: '{"system_mode":"off"}' }] });
  });
  it('refuses a setpoint for a mode without one, and a wildcard name', () => {
    expect(encode('t', undefined, { mode: 'fan_only', setpoint: 20 })).toMatchObject({ ok: false });
    expect(encode('a/#', undefined, { state: 'on' })).toMatchObject({ ok: false });
  });
});

describe('Zigbee2MQTT firmware as it really talks (audit)', () => {
  it('attribute output of any key, a nested one (update-state) or null (""), is recognised, not a failure', () => {
    for (const [topic, payload] of [['zigbee2mqtt/bulb/color_temp', '370'], ['zigbee2mqtt/th1/pressure', '1001.8'], ['zigbee2mqtt/kitchen/floor_light/update-state', 'idle'], ['zigbee2mqtt/door/contact', 'true']]) {
      expect(decode(topic!, Buffer.from(payload!))).toMatchObject({ outcome: 'recognised', what: expect.stringContaining('attribute output') });
    }
  });
  it('a broken JSON state of a device named <site>/<zone>/<device> is still a failure, not taken for an attribute', () => {
    expect(decode('zigbee2mqtt/hq/f1/weather', Buffer.from('{"temperature": 21.'))).toMatchObject({ outcome: 'failure', nativeId: 'hq/f1/weather' });
  });
});
