import { describe, expect, it } from 'vitest';
import { decode, decodeAny, encode } from '../../../gateway/devices/index.js';
import type { Family } from '../../../gateway/devices/types.js';
import { esphomeFixtures } from '../../fixtures/native/esphome.js';
import type { NativeFixture } from '../../fixtures/native/fixture.js';
import { discoveryFixtures } from '../../fixtures/native/homeassistant.js';
import { shellyGen1Fixtures, shellyGen2Fixtures } from '../../fixtures/native/shelly.js';
import { tasmotaFixtures } from '../../fixtures/native/tasmota.js';
import { zigbee2mqttFixtures } from '../../fixtures/native/zigbee2mqtt.js';

const all: [Family, NativeFixture[]][] = [
  ['zigbee2mqtt', zigbee2mqttFixtures],
  ['tasmota', tasmotaFixtures],
  ['shelly', [...shellyGen1Fixtures, ...shellyGen2Fixtures]],
  ['esphome', esphomeFixtures],
  ['homeassistant', discoveryFixtures],
];
const cases = all.flatMap(([family, fixtures]) => fixtures.map((f) => [`${family}: ${f.name}`, family, f] as const));

describe('decodeAny keeps the families apart', () => {
  it.each(cases)('%s', (_name, family, f) => {
    const own = decode(family, f.topic, Buffer.from(f.payload), f.options);
    expect(decodeAny(f.topic, Buffer.from(f.payload), f.options)).toEqual(own);
    if (own.outcome !== 'not_mine' && 'family' in own) expect(own.family).toBe(family);
  });

  it('answers not_mine for the contract\'s own topics and for strangers', () => {
    expect(decodeAny('sensors/hq/f1/t-101/temperature', Buffer.from('{"value":21}'))).toEqual({ outcome: 'not_mine' });
    expect(decodeAny('devices/t-101/status', Buffer.from('online'))).toEqual({ outcome: 'not_mine' });
    expect(decodeAny('commands/hq/f1/hvac', Buffer.from('{}'))).toEqual({ outcome: 'not_mine' });
  });
});

describe('encode by family', () => {
  it('gives each firmware its own command for the same rule action', () => {
    const on = { state: 'on' } as const;
    expect(encode('zigbee2mqtt', 'f1_lamp', undefined, on)).toMatchObject({ publishes: [{ topic: 'zigbee2mqtt/f1_lamp/set', payload: '{"state":"ON"}' }] });
    expect(encode('tasmota', 'f1_relay', '2', on)).toMatchObject({ publishes: [{ topic: 'cmnd/f1_relay/POWER2', payload: 'ON' }] });
    expect(encode('shelly', 'shelly1-A1B2C3', '0', on)).toMatchObject({ publishes: [{ topic: 'shellies/shelly1-A1B2C3/relay/0/command', payload: 'on' }] });
    expect(encode('shelly', 'shellyplus1-a8032abe2f18', '0', on)).toMatchObject({ publishes: [{ topic: 'shellyplus1-a8032abe2f18/rpc' }] });
    expect(encode('esphome', 'f1-node', 'fan', on)).toMatchObject({ publishes: [{ topic: 'f1-node/switch/fan/command', payload: 'ON' }] });
  });
});
