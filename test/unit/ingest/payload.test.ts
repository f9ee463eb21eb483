import { describe, expect, it } from 'vitest';
import { KINDS, KIND_NAMES } from '../../../gateway/core/kinds.js';
import { MAX_FUTURE_SKEW_MS, decodeReading } from '../../../gateway/ingest/payload.js';

const NOW = Date.parse('2026-11-23T10:00:00.000Z');
const decode = (kind: Parameters<typeof decodeReading>[0], text: string | Buffer, max = 65536) =>
  decodeReading(kind, Buffer.isBuffer(text) ? text : Buffer.from(text), NOW, max);

describe('decodeReading', () => {
  it('accepts the full reading of DESIGN.md', () => {
    expect(decode('temperature', '{"value": 23.4, "ts": "2026-11-23T10:00:00.000Z", "seq": 17, "id": "t-101-17"}')).toEqual({
      ok: true,
      reading: { value: 23.4, tsMs: NOW, seq: 17, id: 't-101-17' },
    });
  });

  it('accepts a bare number, a bare boolean and epoch-ms ts', () => {
    expect(decode('temperature', '23.4')).toMatchObject({ ok: true, reading: { value: 23.4, tsMs: undefined } });
    expect(decode('motion', 'true')).toMatchObject({ ok: true, reading: { value: true } });
    expect(decode('humidity', `{"value":40,"ts":${NOW - 1000}}`)).toMatchObject({ ok: true, reading: { tsMs: NOW - 1000 } });
  });

  it('says what is wrong with {"value":"hot"}', () => {
    const r = decode('temperature', '{"value":"hot"}');
    expect(r).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(!r.ok && r.detail).toBe('value must be number for temperature (°C), got "hot"');
  });

  it('refuses a payload that is not JSON, with the parser’s reason', () => {
    const r = decode('temperature', 'twenty degrees');
    expect(r).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(!r.ok && r.detail).toMatch(/^payload is not JSON: /);
  });

  it('refuses a payload without value', () => {
    expect(decode('temperature', '{"ts":1}')).toMatchObject({ ok: false, code: 'invalid_payload', detail: "payload must have required property 'value'" });
  });

  it('checks each kind’s value: ranges, booleans and the keypad’s words', () => {
    expect(decode('humidity', '{"value":120}')).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(decode('contact', '{"value":1}')).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(decode('keypad', '{"value":"ok"}')).toMatchObject({ ok: true });
    const r = decode('keypad', '{"value":"maybe"}');
    expect(!r.ok && r.detail).toContain('["ok","fail"]');
  });

  it('stores booleans as 1/0 and the keypad as ok=1, fail=0', () => {
    expect(KINDS.smoke.toNumber(true)).toBe(1);
    expect(KINDS.contact.toNumber(false)).toBe(0);
    expect(KINDS.keypad.toNumber('ok')).toBe(1);
    expect(KINDS.keypad.toNumber('fail')).toBe(0);
    expect(KIND_NAMES).toHaveLength(11);
  });

  it('dead-letters a ts more than 5 minutes ahead as clock skew, but accepts one just inside', () => {
    expect(decode('temperature', `{"value":20,"ts":${NOW + MAX_FUTURE_SKEW_MS + 1}}`)).toMatchObject({ ok: false, code: 'clock_skew' });
    expect(decode('temperature', `{"value":20,"ts":${NOW + MAX_FUTURE_SKEW_MS}}`)).toMatchObject({ ok: true });
  });

  it('accepts a ts far in the past (a device uploading what it buffered)', () => {
    expect(decode('temperature', '{"value":20,"ts":"2020-01-01T00:00:00Z"}')).toMatchObject({ ok: true, reading: { tsMs: Date.parse('2020-01-01T00:00:00Z') } });
  });

  it('refuses a ts that is not a date', () => {
    expect(decode('temperature', '{"value":20,"ts":"yesterday"}')).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(decode('temperature', '{"value":20,"ts":-5}')).toMatchObject({ ok: false, code: 'invalid_payload' });
  });

  it('takes every ts DESIGN.md names (ISO-8601, epoch ms): the basic format, epoch ms as text or with a fraction; says why a time without a zone is refused', () => {
    const at = Date.parse('2020-11-29T10:00:00Z');
    expect(decode('temperature', '{"value":20,"ts":"20201129T100000Z"}')).toMatchObject({ ok: true, reading: { tsMs: at } });
    expect(decode('temperature', '{"value":20,"ts":"20201129T110000.250+0100"}')).toMatchObject({ ok: true, reading: { tsMs: at + 250 } });
    expect(decode('temperature', `{"value":20,"ts":"${at}"}`)).toMatchObject({ ok: true, reading: { tsMs: at } });
    expect(decode('temperature', `{"value":20,"ts":${at}.7}`)).toMatchObject({ ok: true, reading: { tsMs: at } });
    expect(decode('temperature', '{"value":20,"ts":"2026-11-29T10:00:00"}')).toMatchObject({ ok: false, code: 'invalid_payload', detail: 'ts "2026-11-29T10:00:00" has no time zone: add Z (UTC) or an offset such as +01:00' });
    expect(decode('temperature', '{"value":20,"ts":"20260230T100000Z"}')).toMatchObject({ ok: false, code: 'invalid_payload' });
  });

  it('refuses a date that does not exist instead of rolling it into the next month (2026-02-30 is not 2 March)', () => {
    expect(decode('temperature', '{"value":20,"ts":"2026-02-30T00:00:00Z"}')).toMatchObject({ ok: false, code: 'invalid_payload', detail: 'ts "2026-02-30T00:00:00Z" is not an ISO-8601 date-time or epoch ms' });
    expect(decode('temperature', '{"value":20,"ts":"2026-04-31T10:00:00+02:00"}')).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(decode('temperature', '{"value":20,"ts":"2025-02-29T00:00:00Z"}')).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(decode('temperature', '{"value":20,"ts":"2024-02-29T00:00:00Z"}')).toMatchObject({ ok: true, reading: { tsMs: Date.parse('2024-02-29T00:00:00Z') } });
  });

  it('names a number too large for a double as Infinity, not null', () => {
    const r = decode('temperature', '{"value":1e400}');
    expect(r).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(!r.ok && r.detail).toBe('value must be number for temperature (°C), got Infinity');
  });

  it('refuses an ISO ts before 1970 as epoch ms already are (InfluxDB cannot store a year-1 point)', () => {
    expect(decode('temperature', '{"value":20,"ts":"0001-01-01T00:00:00Z"}')).toMatchObject({ ok: false, code: 'invalid_payload', detail: 'ts "0001-01-01T00:00:00Z" is before 1970' });
    expect(decode('temperature', '{"value":20,"ts":"1970-01-01T00:00:00Z"}')).toMatchObject({ ok: true, reading: { tsMs: 0 } });
  });

  it('refuses oversized and non-UTF-8 payloads before parsing them', () => {
    expect(decode('temperature', `{"value":1,"pad":"${'x'.repeat(100)}"}`, 64)).toMatchObject({ ok: false, code: 'payload_too_large' });
    expect(decode('temperature', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).toMatchObject({ ok: false, code: 'invalid_encoding' });
  });
});
