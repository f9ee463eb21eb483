/**
 * What confirms a command to a native actuator (devices/actuator-form.ts): what the device was
 * asked, in the terms it reports in — a switch given a mode reports on/off, a switch given a
 * brightness only its state — and which one a device is: the map's `as:`, else what the device
 * itself told (its family, its discovered component, its reports).
 */
import { describe, expect, it } from 'vitest';
import { expectedReport, formOf, nativeCommandOf } from '../../../gateway/devices/actuator-form.js';
import type { DiscoveredEntity } from '../../../gateway/devices/families/homeassistant.js';
import type { ActuatorForm, NativeActuator } from '../../../gateway/devices/map.js';
import type { Family } from '../../../gateway/devices/types.js';

const actuator = (family: Family, nativeId: string, channel?: string, as?: ActuatorForm): NativeActuator => ({
  target: 'hq/t1/hvac',
  site: 'hq',
  zone: 't1',
  actuator: 'hvac',
  family,
  nativeId,
  ...(channel === undefined ? {} : { channel }),
  ...(as === undefined ? {} : { as }),
});
const entity = (component: string): DiscoveredEntity => ({ component, objectId: 'relay', configTopic: `homeassistant/${component}/h1/relay/config`, nativeId: 'h1', kind: null, payloadOn: 'ON', payloadOff: 'OFF', availability: [], availabilityMode: 'latest' });

describe('expectedReport', () => {
  it('is on for a switch given any mode but off, and off for off', () => {
    for (const mode of ['cool', 'heat', 'fan_only']) expect(expectedReport({ mode, setpoint: 22 }, 'switch')).toEqual({ state: 'on' });
    expect(expectedReport({ mode: 'off' }, 'switch')).toEqual({ state: 'off' });
  });

  it('is the state alone for lights given a brightness (no native command carries it)', () => {
    for (const form of ['switch', 'thermostat'] as const) expect(expectedReport({ state: 'on', brightness: 80 }, form)).toEqual({ state: 'on' });
  });

  it('is the mode and setpoint for a thermostat, without fields it was not sent', () => {
    expect(expectedReport({ mode: 'cool', setpoint: 22, fan: 'auto' }, 'thermostat')).toEqual({ mode: 'cool', setpoint: 22 });
    expect(expectedReport({ mode: 'off' }, 'thermostat')).toEqual({ mode: 'off' });
  });

  it('a switch that drives a heater is on only for heat, one that drives a cooler only for cool and dry: off for every other mode', () => {
    const heater = { form: 'switch', drives: 'heater' } as const;
    const cooler = { form: 'switch', drives: 'cooler' } as const;
    expect(expectedReport({ mode: 'heat', setpoint: 21 }, heater)).toEqual({ state: 'on' });
    for (const mode of ['cool', 'off', 'auto', 'fan_only', 'dry']) expect(expectedReport({ mode, setpoint: 22 }, heater)).toEqual({ state: 'off' });
    for (const mode of ['cool', 'dry']) expect(expectedReport({ mode }, cooler)).toEqual({ state: 'on' });
    for (const mode of ['heat', 'off', 'auto', 'fan_only']) expect(expectedReport({ mode }, cooler)).toEqual({ state: 'off' });
    // Told on or off outright, it is.
    expect(expectedReport({ state: 'on' }, heater)).toEqual({ state: 'on' });
  });

  it('a thermostat that lists its modes is sent off, without setpoint, for one it cannot do; one that cannot be switched off, its lowest heating setpoint, else nothing', () => {
    expect(nativeCommandOf({ mode: 'cool', setpoint: 22 }, { form: 'thermostat', modes: ['off', 'heat'] })).toEqual({ mode: 'off' });
    expect(expectedReport({ mode: 'cool', setpoint: 22 }, { form: 'thermostat', modes: ['off', 'heat'] })).toEqual({ mode: 'off' });
    expect(nativeCommandOf({ mode: 'heat', setpoint: 21 }, { form: 'thermostat', modes: ['off', 'heat'] })).toEqual({ mode: 'heat', setpoint: 21 });
    expect(nativeCommandOf({ mode: 'cool', setpoint: 22 }, { form: 'thermostat', modes: ['heat'] })).toBe('mode "cool" is not one it accepts (heat), nor is off, and it gives no lowest heating setpoint');
    // A Danfoss Ally (heat only, occupied_heating_setpoint from 5): turned down for off or cool, confirmed by a report at 5 in heat.
    const ally = { form: 'thermostat', modes: ['heat'], floor: { attribute: 'occupied_heating_setpoint', value: 5 } } as const;
    for (const data of [{ mode: 'off' }, { mode: 'cool', setpoint: 22 }]) {
      expect(nativeCommandOf(data, ally)).toEqual({ attribute: 'occupied_heating_setpoint', setpoint: 5 });
      expect(expectedReport(data, ally)).toEqual({ setpoint: 5 });
    }
    expect(nativeCommandOf({ mode: 'heat', setpoint: 21 }, ally)).toEqual({ mode: 'heat', setpoint: 21 });
    // One that takes off is still switched off, whatever its floor.
    expect(nativeCommandOf({ mode: 'cool' }, { ...ally, modes: ['off', 'heat'] })).toEqual({ mode: 'off' });
    // Modes not listed: sent as asked, as before.
    expect(nativeCommandOf({ mode: 'cool', setpoint: 22 }, { form: 'thermostat' })).toEqual({ mode: 'cool', setpoint: 22 });
  });

  it('is the command itself when it has no native form', () => {
    expect(expectedReport({ position: 40 }, 'switch')).toEqual({ position: 40 });
    expect(nativeCommandOf({ mode: 'cool', setpoint: 'x' }, 'switch')).toMatch(/not a number/);
  });
});

describe('formOf', () => {
  it('takes the map’s word first', () => {
    expect(formOf(actuator('zigbee2mqtt', 'z_plug', undefined, 'switch'), {})).toBe('switch');
    expect(formOf(actuator('esphome', 'e-node', 'hvac', 'thermostat'), { reported: { state: 'on' } })).toBe('thermostat');
  });

  it('a Tasmota or Shelly relay is a switch', () => {
    expect(formOf(actuator('tasmota', 't1_relay', '1'), {})).toBe('switch');
    expect(formOf(actuator('shelly', 'shellyplus1-a8032abe2f18'), {})).toBe('switch');
  });

  it('a Home Assistant entity is what its discovered component says', () => {
    for (const c of ['switch', 'light', 'fan']) expect(formOf(actuator('homeassistant', 'h1'), { entity: entity(c) })).toBe('switch');
    expect(formOf(actuator('homeassistant', 'h1'), { entity: entity('climate') })).toBe('thermostat');
    expect(formOf(actuator('homeassistant', 'h1'), { entity: 'no discovery config yet' })).toBe('thermostat');
  });

  it('an ESPHome node or a Zigbee2MQTT device is what it reports: on/off and never a mode is a switch', () => {
    for (const a of [actuator('esphome', 'e-node', 'relay'), actuator('zigbee2mqtt', 'z_plug')]) {
      expect(formOf(a, { reported: { state: 'off' } })).toBe('switch');
      expect(formOf(a, { reported: { state: 'on', mode: 'heat', setpoint: 21 } })).toBe('thermostat');
      expect(formOf(a, { reported: { setpoint: 21 } })).toBe('thermostat');
      expect(formOf(a, {})).toBe('thermostat');
    }
    expect(formOf(actuator('esphome', 'e-node', 'light:ceiling'), {})).toBe('switch');
    expect(formOf(actuator('esphome', 'e-node', 'fan:ceiling_fan'), {})).toBe('switch');
  });
});
