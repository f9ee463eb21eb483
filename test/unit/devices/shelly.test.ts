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

describe('Shelly firmware as it really talks (audit)', () => {
  it('Motion 2: a tmp with its units is a temperature, lux may come as an object, an invalid tmp is left out', () => {
    const r = decode('shellies/shellymotion2-8CF68108A6F5/status', Buffer.from('{"motion":false,"lux":{"value":12,"illumination":"dark"},"bat":100,"tmp":{"value":71.6,"units":"F","is_valid":true}}'));
    expect(r).toMatchObject({ outcome: 'decoded', readings: [{ key: 'status/motion', value: false }, { key: 'status/lux', kind: 'illuminance', value: 12 }, { key: 'status/bat', value: 100 }, { key: 'status/tmp', kind: 'temperature', value: 22 }] });
    const invalid = decode('shellies/shellymotion2-8CF68108A6F5/status', Buffer.from('{"motion":true,"tmp":{"value":null,"units":"C","is_valid":false}}'));
    expect(invalid).toMatchObject({ outcome: 'decoded', problems: [] });
    expect(invalid.outcome === 'decoded' && invalid.readings.map((x) => x.key)).toEqual(['status/motion']);
  });
  it('a status without motion (any other Gen1) is still not a reading', () => {
    expect(decode('shellies/shelly1-A1B2C3/status', Buffer.from('{"wifi_sta":{"connected":true}}'))).toMatchObject({ outcome: 'recognised' });
  });
  it('an RPC error answer is recognised; a frame that is neither request nor answer is not Shelly’s', () => {
    expect(decode('iot-gateway/rpc', Buffer.from('{"id":1,"src":"shellyplus1-a","dst":"iot-gateway","error":{"code":-105,"message":"Argument \'id\', value 3 not found!"}}'))).toMatchObject({ outcome: 'recognised', what: 'RPC error response from shellyplus1-a' });
    expect(decode('home/rpc', Buffer.from('{"hello":1}'))).toEqual({ outcome: 'not_mine' });
  });
  it('Gen1 dimmers and white bulbs take light/<n>/command; relays relay/<n>/command', () => {
    for (const id of ['shellydimmer-D1', 'shellydimmer2-4C7525336380', 'ShellyBulbDuo-34945479CFA4', 'ShellyVintage-AB12']) {
      expect(encode(id, undefined, { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: `shellies/${id}/light/0/command`, payload: 'on' }] });
    }
    expect(encode('shelly1pm-A1B2C3', '0', { state: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'shellies/shelly1pm-A1B2C3/relay/0/command', payload: 'off' }] });
  });
});

describe('Shelly Gen2+ lights (Light.Set, RGBW.Set…: not Switch.Set)', () => {
  const frame = (r: ReturnType<typeof encode>): unknown => (r.ok ? { topic: r.publishes[0]!.topic, ...(JSON.parse(r.publishes[0]!.payload) as object) } : r);
  it('an output learnt from its status is commanded with its component’s Set, on/off only; one learnt is Gen2+ whatever its prefix', () => {
    for (const [output, method] of [['light', 'Light.Set'], ['rgb', 'RGB.Set'], ['rgbw', 'RGBW.Set'], ['cct', 'CCT.Set'], ['rgbcct', 'RGBCCT.Set'], ['switch', 'Switch.Set']] as const) {
      expect(frame(encode('hall-dimmer', '1', { state: 'on' }, { shellyOutput: output, rpcId: 4 }))).toEqual({ topic: 'hall-dimmer/rpc', id: 4, src: 'iot-gateway', method, params: { id: 1, on: true } });
    }
  });
  it('before its status, a dimmer’s id says light (Pro Dimmer, Dimmer Gen3, Plus Wall Dimmer); any other Gen2+ is sent Switch.Set', () => {
    for (const id of ['shellyprodm1pm-aabbcc001122', 'shellyprodm2pm-a0dd6c9e5ea0', 'shellydimmerg3-b08184ef979c', 'shelly0110dimg3-e4b063d99d7c', 'shellywalldimmer-b0a7329e11c4']) {
      expect(frame(encode(id, undefined, { state: 'off' }))).toMatchObject({ topic: `${id}/rpc`, method: 'Light.Set', params: { id: 0, on: false } });
    }
    for (const id of ['shellyplusrgbwpm-aabbcc003344', 'shellyplus1pm-a8032abe2f18', 'shellypro4pm-34987a67d7d0']) expect(frame(encode(id, undefined, { state: 'on' }))).toMatchObject({ method: 'Switch.Set' });
  });
  it('a status, NotifyStatus or NotifyFullStatus teaches each output’s component, once: what the router knows already is not taught again', () => {
    const notify = Buffer.from('{"src":"shellyprodm2pm-a1","method":"NotifyFullStatus","params":{"ts":1700000000.1,"light:0":{"id":0,"output":false,"brightness":50},"light:1":{"id":1,"output":true,"brightness":20},"input:0":{"id":0,"state":false},"sys":{"uptime":3}}}');
    const r = decode('shellyprodm2pm-a1/events/rpc', notify);
    expect(r).toMatchObject({ outcome: 'decoded', actuators: [{ channel: '0', state: { state: 'off', brightness: 50 } }, { channel: '1', state: { state: 'on', brightness: 20 } }] });
    // A full status lists every output the device has: all of them at once, replacing what was learnt.
    expect(r.outcome !== 'not_mine' && r.learnt).toEqual([{ what: 'shellyOutputs', nativeId: 'shellyprodm2pm-a1', outputs: { 0: ['light'], 1: ['light'] } }]);
    const rgbw = decode('p/status/rgbw:0', Buffer.from('{"id":0,"source":"init","output":true,"rgb":[255,0,0],"brightness":80,"white":0,"apower":3.1}'));
    expect(rgbw).toMatchObject({ outcome: 'decoded', actuators: [{ channel: '0', state: { state: 'on', brightness: 80 } }], readings: expect.arrayContaining([expect.objectContaining({ key: 'rgbw:0.apower', kind: 'power', value: 3.1 })]), learnt: [{ what: 'shellyOutput', nativeId: 'p', channel: '0', component: 'rgbw' }] });
    const learnt = { shellyOutput: (id: string, n: string) => (id === 'p' && n === '0' ? ('rgbw' as const) : undefined) } as unknown as NonNullable<Parameters<typeof decode>[2]>['learnt'];
    const again = decode('p/status/rgbw:0', Buffer.from('{"id":0,"output":false}'), { learnt });
    expect(again.outcome !== 'not_mine' && again.learnt).toBeUndefined();
    const known = { shellyOutputs: () => new Map([['1', ['light']], ['0', ['light']]]) } as unknown as NonNullable<Parameters<typeof decode>[2]>['learnt'];
    const full = decode('shellyprodm2pm-a1/events/rpc', notify, { learnt: known });
    expect(full.outcome !== 'not_mine' && full.learnt).toBeUndefined();
  });
  it('an RPC error answer carries the device, the request’s id and the error, for the log', () => {
    const r = decode('iot-gateway/rpc', Buffer.from('{"id":3,"src":"shellyprodm1pm-aabbcc001122","dst":"iot-gateway","error":{"code":404,"message":"No handler for Switch.Set"}}'));
    expect(r).toMatchObject({ outcome: 'recognised', rpcError: { src: 'shellyprodm1pm-aabbcc001122', rpcId: 3, code: 404, message: 'No handler for Switch.Set' } });
    expect(decode('iot-gateway/rpc', Buffer.from('{"id":3,"src":"shellyplus1-a","dst":"iot-gateway","result":{"was_on":false}}'))).not.toHaveProperty('rpcError');
    // An answer to another client's request (Home Assistant's src) is not the gateway's to report.
    expect(decode('homeassistant/rpc', Buffer.from('{"id":3,"src":"shellyplus1-a","dst":"homeassistant","error":{"code":404,"message":"No handler for Switch.Set"}}'))).not.toHaveProperty('rpcError');
  });
});
