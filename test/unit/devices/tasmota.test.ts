import { describe, expect, it } from 'vitest';
import { decode, encode, parseTopic } from '../../../gateway/devices/families/tasmota.js';
import { LearntFacts } from '../../../gateway/devices/learnt.js';
import { tasmotaFixtures } from '../../fixtures/native/tasmota.js';
import { expectFixture } from './expect-fixture.js';

describe('Tasmota decoder on real messages', () => {
  it.each(tasmotaFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    expectFixture(f, decode(f.topic, Buffer.from(f.payload), f.options));
  });
});

describe('Tasmota decoder', () => {
  it('names device and key of a value that is not a number ("n/a")', () => {
    const r = decode('tele/tasmota_A1B2C3/SENSOR', Buffer.from('{"Time":"2024-01-01T00:00:00","AM2301":{"Temperature":"n/a","Humidity":40.1},"TempUnit":"C"}'));
    expect(r).toMatchObject({ outcome: 'decoded', readings: [{ key: 'AM2301.Humidity', value: 40.1 }], problems: ['tasmota:tasmota_A1B2C3: AM2301.Temperature is "n/a", not a number'] });
  });

  it('gives a failure when nothing in the SENSOR decodes', () => {
    expect(decode('tele/tasmota_A1B2C3/SENSOR', Buffer.from('{"AM2301":{"Temperature":"n/a"}}'))).toEqual({
      outcome: 'failure',
      family: 'tasmota',
      nativeId: 'tasmota_A1B2C3',
      detail: 'tasmota:tasmota_A1B2C3: AM2301.Temperature is "n/a", not a number',
    });
  });

  it('reads custom prefixes and several FullTopics', () => {
    const opts = { fullTopics: ['%prefix%/%topic%/', 'home/%topic%/%prefix%/'], prefixes: { tele: 'tel' } };
    expect(parseTopic('home/lamp/tel/LWT', opts)).toEqual({ prefix: 'tele', topic: 'lamp', suffix: 'LWT' });
    expect(parseTopic('tele/lamp/LWT', opts)).toBeNull();
    expect(parseTopic('cmnd/lamp/POWER', opts)).toEqual({ prefix: 'cmnd', topic: 'lamp', suffix: 'POWER' });
  });

  it('is not Tasmota: other shapes', () => {
    expect(decode('tele/lamp', Buffer.from('x'))).toEqual({ outcome: 'not_mine' });
    expect(decode('sensors/hq/f1/t1/temperature', Buffer.from('1'))).toEqual({ outcome: 'not_mine' });
  });

  it('reads multi-phase ENERGY.Power arrays one channel each', () => {
    const r = decode('tele/em/SENSOR', Buffer.from('{"ENERGY":{"Power":[1,0,2]}}'));
    expect(r).toMatchObject({ readings: [{ key: 'ENERGY.Power[0]', value: 1, channel: 'ENERGY[0]' }, { key: 'ENERGY.Power[1]', value: 0 }, { key: 'ENERGY.Power[2]', value: 2 }] });
  });
});

describe('a FullTopic with a placeholder twice (a discovery config or a map may say one)', () => {
  // Two regex groups of one name threw "Duplicate capture group name" for every message read under it,
  // and for the dead letter's hint of an unread topic.
  const opts = { tasmota: { fullTopics: ['%prefix%/%topic%/%prefix%/'] } };

  it('reads a message whose repeated placeholder is the same word, and no other, without throwing', () => {
    expect(decode('tele/plug1/tele/SENSOR', Buffer.from('{"AM2301":{"Temperature":21.5}}'), opts)).toMatchObject({ outcome: 'decoded', nativeId: 'plug1', readings: [{ kind: 'temperature', value: 21.5 }] });
    expect(decode('tele/plug1/stat/SENSOR', Buffer.from('{"AM2301":{"Temperature":21.5}}'), opts)).toEqual({ outcome: 'not_mine' });
    expect(parseTopic('stat/plug1/stat/POWER', opts.tasmota)).toMatchObject({ topic: 'plug1' });
  });
});

describe('Tasmota commands', () => {
  it('sends ON to cmnd/<topic>/POWER<n>', () => {
    expect(encode('f1_relay', '2', { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'cmnd/f1_relay/POWER2', payload: 'ON' }] });
    expect(encode('f1_relay', undefined, { state: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'cmnd/f1_relay/POWER', payload: 'OFF' }] });
  });
  it('follows a %topic%/%prefix%/ FullTopic', () => {
    expect(encode('sonoff-1234', '1', { state: 'on' }, { tasmota: { fullTopics: ['%topic%/%prefix%/'] } })).toEqual({ ok: true, publishes: [{ topic: 'sonoff-1234/cmnd/POWER1', payload: 'ON' }] });
  });
  it('follows the FullTopic the device itself uses, not the first of the map, and learns only what is news', () => {
    // The custom template listed first: a default-topic Tasmota's own message says where it listens.
    const tasmota = { fullTopics: ['home/%topic%/%prefix%/', '%prefix%/%topic%/'] };
    const learnt = new LearntFacts();
    const heard = decode('tele/plain/STATE', Buffer.from('{"POWER":"OFF"}'), { tasmota, learnt });
    expect(heard.outcome !== 'not_mine' && heard.learnt).toEqual([{ what: 'tasmotaLayout', topic: 'plain', fullTopic: '%prefix%/%topic%/', prefixes: { cmnd: 'cmnd', stat: 'stat', tele: 'tele' } }]);
    learnt.apply(heard.outcome !== 'not_mine' ? (heard.learnt ?? []) : []);
    expect(encode('plain', '1', { state: 'on' }, { tasmota, tasmotaLayout: learnt.tasmotaLayout('plain') })).toEqual({ ok: true, publishes: [{ topic: 'cmnd/plain/POWER1', payload: 'ON' }] });
    // Said again: nothing new. Under the first template, with nothing learnt: nothing to learn (its commands go there anyway).
    expect(decode('tele/plain/STATE', Buffer.from('{"POWER":"OFF"}'), { tasmota, learnt })).not.toHaveProperty('learnt');
    expect(decode('home/custom/tele/LWT', Buffer.from('Online'), { tasmota, learnt })).not.toHaveProperty('learnt');
    // A command seen on the bus is anyone's (the gateway's own too): it teaches nothing.
    expect(decode('cmnd/other/POWER1', Buffer.from('ON'), { tasmota, learnt })).not.toHaveProperty('learnt');
    // Its discovery config's FullTopic and prefixes, as announced.
    const config = decode('tasmota/discovery/A0B765F3C1E2/config', Buffer.from('{"t":"shed","ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"]}'), { tasmota, learnt });
    expect(config.outcome !== 'not_mine' && config.learnt).toEqual([{ what: 'tasmotaLayout', topic: 'shed', fullTopic: '%prefix%/%topic%/', prefixes: { cmnd: 'cmnd', stat: 'stat', tele: 'tele' } }]);
    // A FullTopic with a wildcard is no topic: its commands could not be published, so nothing is learnt (nor a prefix with one).
    const wild = decode('tasmota/discovery/A0B765F3C1E3/config', Buffer.from('{"t":"barn","ft":"home/+/%prefix%/%topic%/","tp":["cmnd","stat","tele"]}'), { tasmota, learnt });
    expect(wild.outcome !== 'not_mine' && wild.learnt).toBeFalsy();
    const wildWord = decode('tasmota/discovery/A0B765F3C1E4/config', Buffer.from('{"t":"barn","ft":"%topic%/%prefix%/","tp":["#","stat","tele"]}'), { tasmota, learnt });
    expect(JSON.stringify(wildWord.outcome !== 'not_mine' ? wildWord.learnt : undefined)).not.toContain('#');
  });
  it('refuses HVAC, a bad channel and a FullTopic it cannot fill', () => {
    expect(encode('t', undefined, { mode: 'cool', setpoint: 22 })).toMatchObject({ ok: false });
    expect(encode('t', 'x', { state: 'on' })).toMatchObject({ ok: false });
    expect(encode('t', '1', { state: 'on' }, { tasmota: { fullTopics: ['%prefix%/%hostname%/%topic%/'] } })).toMatchObject({ ok: false });
  });
});

describe('Tasmota firmware as it really talks (audit)', () => {
  it('keeps the ESP32 chip temperature apart from a real sensor in the same SENSOR', () => {
    const r = decode('tele/esp32_th/SENSOR', Buffer.from('{"Time":"2022-07-29T22:30:18","SI7021":{"Temperature":24.2,"Humidity":59.4,"DewPoint":15.8},"ESP32":{"Temperature":41.1},"TempUnit":"C"}'));
    expect(r.outcome === 'decoded' && r.readings.filter((x) => x.kind === 'temperature').map((x) => x.key)).toEqual(['SI7021.Temperature']);
    expect(r).toMatchObject({ readings: expect.arrayContaining([{ key: 'ESP32.Temperature', kind: null, value: 41.1, unit: 'C', channel: 'ESP32' }]) });
  });
});
