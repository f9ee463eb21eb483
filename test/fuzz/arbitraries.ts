/**
 * fast-check arbitraries for what devices (and attackers) publish: topics that follow the
 * contract, nearly follow it, or are anything at all; payloads that are good readings, nearly
 * good ones, other JSON, or raw bytes. Biased towards the edges, where bugs live.
 */
import fc from 'fast-check';
import { KIND_NAMES } from '../../gateway/core/kinds.js';

/** Characters that break naive line protocol, JSON or topic handling. */
export const HOSTILE = [',', ' ', '=', '"', "'", '\\', '\n', '\r', '\t', '\u0000', '/', '+', '#', '$', '{', '}', 'é', '漢', '🙂', '\u2028', '\ufeff'];

export const hostileString = (maxLength = 24) =>
  fc.array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'grapheme', maxLength: 3 }), fc.string({ unit: 'binary', maxLength: 2 })), { maxLength }).map((parts) => parts.join(''));

const goodSegment = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
const nearSegment = fc.oneof(
  { weight: 6, arbitrary: goodSegment },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constant('x'.repeat(65)) },
  { weight: 2, arbitrary: hostileString(6) },
);
const kind = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...KIND_NAMES) }, { weight: 1, arbitrary: fc.constantFrom('Temperature', 'temp', 'status', '') }, { weight: 1, arbitrary: nearSegment });

export const topic = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(goodSegment, goodSegment, goodSegment, kind).map(([s, z, d, k]) => `sensors/${s}/${z}/${d}/${k}`) },
  { weight: 3, arbitrary: fc.tuple(nearSegment, nearSegment, nearSegment, kind).map(([s, z, d, k]) => `sensors/${s}/${z}/${d}/${k}`) },
  { weight: 2, arbitrary: fc.tuple(goodSegment, fc.constantFrom('status', 'status', 'state')).map(([d, s]) => `devices/${d}/${s}`) },
  { weight: 1, arbitrary: fc.tuple(goodSegment, goodSegment).map(([s, z]) => `zones/${s}/${z}/armed`) },
  { weight: 1, arbitrary: fc.tuple(goodSegment, goodSegment).map(([s, a]) => `alarms/${s}/${a}/ack`) },
  { weight: 2, arbitrary: fc.array(nearSegment, { minLength: 1, maxLength: 7 }).map((parts) => ['sensors', 'devices', 'zones'][parts.length % 3] + '/' + parts.join('/')) },
  { weight: 2, arbitrary: fc.array(fc.oneof(goodSegment, hostileString(8)), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/')) },
);

const now = Date.now();
/** Times near now (a few recent weeks) and a few fixed old ones, so InfluxDB is not asked for thousands of shards. */
const ts = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: now - 14 * 86_400_000, max: now + 4 * 60_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: now + 6 * 60_000, max: now + 10 * 365 * 86_400_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, -1, 1.5, 8.64e15 + 1, Number.MAX_SAFE_INTEGER) },
  { weight: 2, arbitrary: fc.integer({ min: now - 14 * 86_400_000, max: now + 4 * 60_000 }).map((t) => new Date(t).toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom('0001-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '1970-01-01T00:00:00Z', '2026-13-45T99:99Z', 'yesterday', '', '2026-11-23T10:00:00+02:00') },
);

const value = fc.oneof(
  fc.double({ min: -200, max: 1e7, noNaN: true }),
  fc.integer({ min: -20_000_000, max: 20_000_000 }),
  fc.boolean(),
  fc.constantFrom('ok', 'fail', 'OK', '', '23.4', null),
);

const reading = fc
  .record(
    {
      value,
      ts,
      seq: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2)),
      id: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,10}$/), hostileString(24), fc.constant('x'.repeat(129)), fc.constant('')),
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  )
  .map((r) => JSON.stringify(r));

export const payload = fc.oneof(
  { weight: 8, arbitrary: reading.map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: value.map((v) => Buffer.from(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.constantFrom('online', 'offline', 'ONLINE', '"online"', 'true', 'armed', 'disarmed', '1', '0', '').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: hostileString(40).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  // Over MAX_PAYLOAD_BYTES (64 KiB), rarely: they cost memory and time.
  { weight: 1, arbitrary: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 0, 0, 1).map((big) => Buffer.from(big ? JSON.stringify({ value: 1, pad: 'x'.repeat(70_000) }) : '{"value":1')) },
);

export const publish = fc.record({ topic, payload, qos: fc.constantFrom<0 | 1>(0, 0, 0, 1), dup: fc.boolean(), messageId: fc.integer({ min: 1, max: 65535 }) });
