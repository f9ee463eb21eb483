/**
 * What confirms a command to a native actuator (devices/commands.ts `expectedReport`): what the
 * device was asked, in the terms it reports in — a relay given a mode reports on/off, a switch
 * given a brightness only its state — so the rules' saga compares like with like.
 */
import { describe, expect, it } from 'vitest';
import { expectedReport } from '../../../gateway/devices/commands.js';
import type { NativeActuator } from '../../../gateway/devices/map.js';
import type { Family } from '../../../gateway/devices/types.js';

const actuator = (family: Family, nativeId: string, channel?: string): NativeActuator => ({
  target: 'hq/t1/hvac',
  site: 'hq',
  zone: 't1',
  actuator: 'hvac',
  family,
  nativeId,
  ...(channel === undefined ? {} : { channel }),
});

describe('expectedReport', () => {
  it('is on for a relay given any mode but off, and off for off', () => {
    for (const relay of [actuator('tasmota', 't1_relay', '1'), actuator('shelly', 'shelly1-A1B2C3'), actuator('shelly', 'shellyplus1-a8032abe2f18')]) {
      expect(expectedReport({ mode: 'cool', setpoint: 22 }, relay)).toEqual({ state: 'on' });
      expect(expectedReport({ mode: 'heat', setpoint: 21 }, relay)).toEqual({ state: 'on' });
      expect(expectedReport({ mode: 'off' }, relay)).toEqual({ state: 'off' });
    }
  });

  it('is the state alone for lights given a brightness (no native command carries it)', () => {
    for (const a of [actuator('tasmota', 't1_relay', '2'), actuator('esphome', 'e1-node', 'relay'), actuator('zigbee2mqtt', 'z1_plug')]) {
      expect(expectedReport({ state: 'on', brightness: 80 }, a)).toEqual({ state: 'on' });
    }
  });

  it('is the mode and setpoint for a thermostat, without fields it was not sent', () => {
    expect(expectedReport({ mode: 'cool', setpoint: 22, fan: 'auto' }, actuator('zigbee2mqtt', 'f1_trv'))).toEqual({ mode: 'cool', setpoint: 22 });
    expect(expectedReport({ mode: 'off' }, actuator('esphome', 'f1-node', 'hvac'))).toEqual({ mode: 'off' });
  });

  it('is the command itself when it has no native form', () => {
    expect(expectedReport({ position: 40 }, actuator('tasmota', 't1_relay', '1'))).toEqual({ position: 40 });
  });
});
