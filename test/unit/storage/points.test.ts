import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { jsonField, line, pointOf, pointTime, stringField, tagValue } from '../../../gateway/storage/line.js';
import { deadLetterPoint, readingPoint } from '../../../gateway/storage/points.js';
import { splitLines } from '../../../gateway/storage/writer.js';

const reading: ReadingEvent = {
  id: 't-101-17',
  type: 'sensor.temperature',
  source: 'hq/f1/t-101',
  time: '2026-11-23T10:00:00.000Z',
  receivedAt: '2026-11-23T10:00:00.100Z',
  seq: 17,
  site: 'hq',
  zone: 'f1',
  device: 't-101',
  kind: 'temperature',
  value: 23.4,
  numeric: 23.4,
  timeMs: 1795428000000,
  receivedAtMs: 1795428000100,
  clientId: 't-101',
};

describe('points', () => {
  it('lays a reading out as DESIGN.md says: <kind>,device,site,zone value,seq,event_id at its time', () => {
    expect(readingPoint(reading, pointTime(reading.timeMs, 0))).toBe('temperature,device=t-101,site=hq,zone=f1 value=23.4,seq=17i,event_id="t-101-17" 1795428000000000000\n');
  });

  it('stores booleans as float 1/0 and omits seq when the device sent none', () => {
    expect(readingPoint({ ...reading, kind: 'smoke', type: 'sensor.smoke', value: true, numeric: 1, seq: undefined }, pointTime(reading.timeMs, 0))).toBe(
      'smoke,device=t-101,site=hq,zone=f1 value=1,event_id="t-101-17" 1795428000000000000\n',
    );
  });

  it('yields the same line for the same event (idempotent writes)', () => {
    expect(readingPoint({ ...reading }, pointTime(reading.timeMs, 42))).toBe(readingPoint(reading, pointTime(reading.timeMs, 42)));
  });

  it('escapes tags (comma, equals, space) and string fields (quote, backslash), keeping newlines in strings', () => {
    expect(tagValue('a b,c=d')).toBe('a\\ b\\,c\\=d');
    expect(stringField('say "hi"\\n\nnext')).toBe('"say \\"hi\\"\\\\n\nnext"');
    expect(line('m', { z: '1', a: '2' }, { f: { str: 'x' }, i: { int: 3 }, b: { bool: true } }, (series) => (series === 'm,a=2,z=1' ? '5' : 'wrong series'))).toBe('m,a=2,z=1 f="x",i=3i,b=true 5\n');
  });

  it('writes every string field as the regex escape always did (the no-escape fast path included)', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('a', '"', '\\', '\n', 'é', ' ') }), fc.uuid());
    fc.assert(fc.property(text, (value) => stringField(value) === `"${value.replace(/["\\]/g, '\\$&')}"`), { numRuns: 1000 });
  });

  it('writes a value as JSON in a string field exactly as escaping its JSON text would (quotes, backslashes, control characters, lone surrogates)', () => {
    const nasty = fc.string({ unit: fc.constantFrom('a', '"', '\\', '\n', '\u0001', 'é', '\ud800', '😀', ' ') });
    const value = fc.oneof(fc.jsonValue(), fc.dictionary(nasty, fc.oneof(nasty, fc.double(), fc.boolean(), fc.constant(null))), fc.array(nasty));
    fc.assert(fc.property(value, (v) => jsonField(v) === stringField(JSON.stringify(v))), { numRuns: 2000 });
    expect(jsonField(undefined)).toBe('"null"');
  });

  it('escapes a tag as the two regex replaces always did (the unchanged fast path included)', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('a', ',', '=', ' ', '\\', '\n', '\r', 'é') }));
    const slow = (value: string): string => (value === '' ? '_' : value.replace(/[\r\n]|\\$/g, (c) => (c === '\\' ? '\\_' : ' '))).replace(/[,= ]/g, '\\$&');
    fc.assert(fc.property(text, (value) => tagValue(value) === slow(value)), { numRuns: 2000 });
  });

  it('keeps a tag from ending in a backslash or holding a newline, which 1.x cannot store', () => {
    expect(tagValue('a\\')).toBe('a\\_');
    expect(tagValue('a\nb')).toBe('a\\ b');
    expect(tagValue('')).toBe('_');
  });

  it('writes a dead letter with its reason as a tag and the payload as a field', () => {
    const p = deadLetterPoint({ id: 'e1', topic: 'sensors/x', payload: 'bad "json"\n', reason: 'invalid_json', detail: 'no', receivedAt: '2026-11-23T10:00:00.000Z', timeMs: 7, clientId: null }, () => pointTime(7, 12));
    expect(p).toBe('deadletters,reason=invalid_json topic="sensors/x",payload="bad \\"json\\"\n",client_id="",detail="no",event_id="e1" 7000012\n');
  });
});

describe('splitLines', () => {
  it('splits a body at line ends but not at newlines inside quoted string fields', () => {
    const a = 'deadletters,reason=x payload="one\ntwo",n=1i 5\n';
    const b = 'm,t=a\\ b f="q\\"\n" 6\n';
    const c = 'm,t="odd f=1 7\n';
    expect(splitLines(a + b + c)).toEqual([a, b, c]);
  });
});

describe('point times (ns, as strings)', () => {
  it('writes the millisecond and the offset in ns, past 2^53 without losing a digit', () => {
    expect(pointTime(1795428000000, 0)).toBe('1795428000000000000');
    expect(pointTime(1795428000000, 7)).toBe('1795428000000000007');
    expect(pointTime(1795428000000, 999_999)).toBe('1795428000000999999');
    expect(pointTime(0, 0)).toBe('0');
    expect(pointTime(0, 5)).toBe('5');
  });

  it('reads a line back to its series, millisecond, offset, event id and a reading\'s value (ns lines, and ms lines an older version left)', () => {
    const l = 'temperature,device=t\\ 1,site=hq,zone=f1 value=1,event_id="a \\"b\\"" 1795428000000000042\n';
    expect(pointOf(l, true)).toEqual({ series: 'temperature,device=t\\ 1,site=hq,zone=f1', ms: 1795428000000, offset: 42, id: 'a "b"', value: 1 });
    expect(pointOf('m,t=a v=1,event_id="x" 1795428000000\n', false)).toEqual({ series: 'm,t=a', ms: 1795428000000, offset: 0, id: 'x', value: Number.NaN });
    expect(pointOf('humidity,device=d,site=s,zone=z value=-4.25e-7,seq=3i,event_id="d1" 1795428000000000000\n', true)?.value).toBe(-4.25e-7);
    expect(pointOf('alarms,alarm_id=a value="{\\"v\\":1}",event_id="x" 1795428000000000000\n', true)?.value).toBeNaN();
    expect(pointOf('gateway_stats,host=h n=1i 1795428000000000000\n', true)?.id).toBeUndefined();
  });
});

describe('the reading envelope', () => {
  it('gives time and receivedAt as ISO-8601, also in JSON', async () => {
    const { Reading } = await import('../../../gateway/ingest/envelope.js');
    const r = new Reading('id-1', 'sensor.humidity', 'a/b/c', 'a', 'b', 'c', 'humidity', 40, 40, 3, Date.parse('2026-11-23T10:00:00.000Z'), Date.parse('2026-11-23T10:00:01.500Z'), 'c');
    expect(r.time).toBe('2026-11-23T10:00:00.000Z');
    expect(r.receivedAt).toBe('2026-11-23T10:00:01.500Z');
    expect(JSON.parse(JSON.stringify(r))).toMatchObject({ id: 'id-1', type: 'sensor.humidity', source: 'a/b/c', time: '2026-11-23T10:00:00.000Z', receivedAt: '2026-11-23T10:00:01.500Z', seq: 3 });
  });
});
