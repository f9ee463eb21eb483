import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../gateway/devices/families/shelly.js';
import { shellyGen1Fixtures, shellyGen2Fixtures } from '../../fixtures/native/shelly.js';
import { expectFixture } from './expect-fixture.js';

describe('Shelly Gen1 decoder on real messages', () => {
  it.each(shellyGen1Fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    expectFixture(f, decode(f.topic, Buffer.from(f.payload), f.options));
  });
});

describe('Shelly Gen2/Plus/Pro decoder on real messages', () => {
  it.each(shellyGen2Fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    expectFixture(f, decode(f.topic, Buffer.from(f.payload), f.options));
  });
});

describe('Shelly decoder', () => {
  it('converts a Gen1 H&T configured in °F', () => {
    expect(decode('shellies/shellyht-AABBCC/sensor/temperature', Buffer.from('76.1'), { shellyFahrenheit: ['shellyht-AABBCC'] })).toMatchObject({ readings: [{ kind: 'temperature', value: 24.5 }] });
  });
  it('reads "close" as contact false', () => {
    expect(decode('shellies/shellydw2-A1B2C3/sensor/state', Buffer.from('close'))).toMatchObject({ readings: [{ kind: 'contact', value: false }] });
  });
  it('names the key of a Gen2 temperature that could not be read (tC null)', () => {
    expect(decode('shellyplusht-aa/status/temperature:0', Buffer.from('{"id":0,"tC":null,"tF":null}'))).toMatchObject({ outcome: 'failure', detail: 'shelly:shellyplusht-aa: temperature:0.tC is null, not a number' });
  });
  it('does not trust a notification ts before 2000 (no time sync yet)', () => {
    const r = decode('p/events/rpc', Buffer.from('{"method":"NotifyStatus","params":{"ts":12.5,"temperature:0":{"tC":20}}}'));
    expect(r).toMatchObject({ outcome: 'decoded' });
    expect(r.outcome === 'decoded' && r.ts).toBeUndefined();
  });
  it('recognises RPC requests and events without taking them for readings', () => {
    expect(decode('shellyplus1-a/rpc', Buffer.from('{"id":1,"src":"x","method":"Switch.Set","params":{"id":0,"on":true}}'))).toMatchObject({ outcome: 'recognised', nativeId: 'shellyplus1-a' });
    expect(decode('shellyplus1-a/events/rpc', Buffer.from('{"src":"shellyplus1-a","method":"NotifyEvent","params":{"ts":1700000000,"events":[]}}'))).toMatchObject({ outcome: 'recognised' });
    expect(decode('shellies/shelly1-a/relay/0/command', Buffer.from('on'))).toMatchObject({ outcome: 'recognised', nativeId: 'shelly1-a' });
  });
  it('leaves topics of other shapes alone', () => {
    expect(decode('home/status/kitchen', Buffer.from('{}'))).toEqual({ outcome: 'not_mine' });
    expect(decode('x/online', Buffer.from('yes'))).toEqual({ outcome: 'not_mine' });
  });
});

describe('Shelly commands', () => {
  it('Gen1: on to shellies/<id>/relay/<n>/command', () => {
    expect(encode('shelly1-A1B2C3', '0', { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'shellies/shelly1-A1B2C3/relay/0/command', payload: 'on' }] });
  });
  it('Gen2: a Switch.Set RPC frame to <prefix>/rpc', () => {
    expect(encode('shellyplus1pm-a8032abe2f18', undefined, { state: 'off' }, { rpcId: 7, rpcSrc: 'gw' })).toEqual({
      ok: true,
      publishes: [{ topic: 'shellyplus1pm-a8032abe2f18/rpc', payload: '{"id":7,"src":"gw","method":"Switch.Set","params":{"id":0,"on":false}}' }],
    });
    expect(encode('kitchen-plug', '1', { state: 'on' }, { shellyGeneration: 2 })).toMatchObject({ ok: true, publishes: [{ topic: 'kitchen-plug/rpc', payload: '{"id":1,"src":"iot-gateway","method":"Switch.Set","params":{"id":1,"on":true}}' }] });
  });
  it('refuses HVAC and a non-numeric channel', () => {
    expect(encode('shelly1-a', undefined, { mode: 'heat' })).toMatchObject({ ok: false });
    expect(encode('shelly1-a', 'x', { state: 'on' })).toMatchObject({ ok: false });
  });
});
