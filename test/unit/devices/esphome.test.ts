import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../gateway/devices/families/esphome.js';
import { esphomeFixtures } from '../../fixtures/native/esphome.js';
import { expectFixture } from './expect-fixture.js';

describe('ESPHome decoder on real messages', () => {
  it.each(esphomeFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    expectFixture(f, decode(f.topic, Buffer.from(f.payload), f.options));
  });
});

describe('ESPHome decoder', () => {
  it('takes kinds from the options, per node or for every node', () => {
    const esphomeKinds = { 'attic-powerwall': { 'sensor/inverter0_power_demand': 'power' as const }, '*': { 'binary_sensor/front': 'contact' as const } };
    expect(decode('attic-powerwall/sensor/inverter0_power_demand/state', Buffer.from('190'), { esphomeKinds })).toMatchObject({ readings: [{ kind: 'power', value: 190 }] });
    expect(decode('n1/binary_sensor/front/state', Buffer.from('ON'), { esphomeKinds })).toMatchObject({ readings: [{ kind: 'contact', value: true }] });
  });
  it('handles a topic_prefix with slashes', () => {
    expect(decode('home/living_room/sensor/temperature/state', Buffer.from('21.5'))).toMatchObject({ nativeId: 'home/living_room', readings: [{ value: 21.5 }] });
  });
  it('reads a JSON light state', () => {
    expect(decode('n1/light/desk/state', Buffer.from('{"state":"ON","brightness":128,"color_mode":"brightness"}'))).toMatchObject({ actuators: [{ channel: 'desk', state: { state: 'on', brightness: 128 } }] });
  });
  it('refuses a switch state that is not ON/OFF, naming node and key', () => {
    expect(decode('n1/switch/pump/state', Buffer.from('maybe'))).toMatchObject({ outcome: 'failure', detail: 'esphome:n1: switch/pump is "maybe", not ON/OFF' });
  });
  it('is not ESPHome: a status that is not online/offline, unknown components', () => {
    expect(decode('n1/status', Buffer.from('{"x":1}'))).toEqual({ outcome: 'not_mine' });
    expect(decode('n1/relay/x/state', Buffer.from('ON'))).toEqual({ outcome: 'not_mine' });
  });
});

describe('ESPHome commands', () => {
  it('switches with ON on <node>/switch/<id>/command', () => {
    expect(encode('f1-node', 'fan_relay', { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'f1-node/switch/fan_relay/command', payload: 'ON' }] });
  });
  it('switches a light with its JSON command', () => {
    expect(encode('f1-node', 'light:desk', { state: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'f1-node/light/desk/command', payload: '{"state":"OFF"}' }] });
  });
  it('switches a fan with ON/OFF on <node>/fan/<id>/command (mqtt_fan.cpp parse_on_off)', () => {
    expect(encode('f1-node', 'fan:ceiling_fan', { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'f1-node/fan/ceiling_fan/command', payload: 'ON' }] });
    expect(encode('f1-node', 'fan:a/b', { state: 'on' })).toMatchObject({ ok: false });
  });
  it('sets a climate mode and target temperature', () => {
    expect(encode('climate-bedroom', 'bedroom', { mode: 'cool', setpoint: 22 })).toEqual({
      ok: true,
      publishes: [
        { topic: 'climate-bedroom/climate/bedroom/mode/command', payload: 'cool' },
        { topic: 'climate-bedroom/climate/bedroom/target_temperature/command', payload: '22' },
      ],
    });
  });
  it('needs the object id as channel', () => {
    expect(encode('n', undefined, { state: 'on' })).toMatchObject({ ok: false });
  });
});

describe('ESPHome sensors announced in another unit (audit)', () => {
  const esphomeKinds = { 'porch-node': { 'sensor/porch_t': 'temperature' as const, 'sensor/heater': 'power' as const } };
  const esphomeUnits = { 'porch-node': { 'sensor/porch_t': '°F', 'sensor/heater': 'kW' } };
  it('converts a temperature announced in °F to °C and a power in kW to W', () => {
    expect(decode('porch-node/sensor/porch_t/state', Buffer.from('71.6'), { esphomeKinds, esphomeUnits })).toMatchObject({ readings: [{ kind: 'temperature', value: 22, unit: '°C' }] });
    expect(decode('porch-node/sensor/heater/state', Buffer.from('1.25'), { esphomeKinds, esphomeUnits })).toMatchObject({ readings: [{ kind: 'power', value: 1250 }] });
  });
  it('leaves a sensor in °C, or one of another node, as it is', () => {
    expect(decode('porch-node/sensor/porch_t/state', Buffer.from('21.5'), { esphomeKinds, esphomeUnits: { 'porch-node': { 'sensor/porch_t': '°C' } } })).toMatchObject({ readings: [{ value: 21.5 }] });
    expect(decode('other/sensor/porch_t/state', Buffer.from('71.6'), { esphomeKinds: { '*': { 'sensor/porch_t': 'temperature' } }, esphomeUnits })).toMatchObject({ readings: [{ value: 71.6 }] });
  });
});
