import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, HEADER_BYTES } from '../../../gateway/storage/spool/record.js';

const lines = (s: string): Buffer => Buffer.from(s, 'utf8');
const whole = (body: Buffer, count: number, appendedAt: number): Buffer => Buffer.concat(encodeRecord(body, count, appendedAt));

describe('the spool record codec', () => {
  it('decodes what it encodes, at any offset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 0x7fff_ffff }),
        fc.double({ noNaN: true }),
        fc.nat(40),
        (bytes, count, appendedAt, at) => {
          const body = Buffer.from(bytes);
          const data = Buffer.concat([Buffer.alloc(at, 7), whole(body, count, appendedAt), Buffer.alloc(5, 9)]);
          const record = decodeRecord(data, at);
          expect(record).toMatchObject({ ok: true, bodyLength: body.length, count, appendedAt, precision: 'ns', bytes: HEADER_BYTES + body.length });
          expect(record.ok && record.body.equals(body)).toBe(true);
        },
      ),
    );
  });

  it('says the precision of its lines: ns as written now, ms for a record an older version left (no flag)', () => {
    expect(decodeRecord(Buffer.concat(encodeRecord(lines('m v=1 1\n'), 3, 1, 'ms')), 0)).toMatchObject({ ok: true, count: 3, precision: 'ms' });
    expect(decodeRecord(Buffer.concat(encodeRecord(lines('m v=1 1\n'), 3, 1)), 0)).toMatchObject({ ok: true, count: 3, precision: 'ns' });
  });

  it('reads records one after the other and stops at the end', () => {
    const data = Buffer.concat([whole(lines('m v=1 1\n'), 1, 10), whole(lines('m v=2 2\nm v=3 3\n'), 2, 20)]);
    const first = decodeRecord(data, 0);
    expect(first).toMatchObject({ ok: true, count: 1, appendedAt: 10 });
    const second = decodeRecord(data, first.ok ? first.bytes : -1);
    expect(second).toMatchObject({ ok: true, count: 2, appendedAt: 20 });
    expect(second.ok && second.body.toString()).toBe('m v=2 2\nm v=3 3\n');
    expect(decodeRecord(data, data.length)).toEqual({ ok: false, reason: 'short' });
  });

  it('recognises a torn record (a crash mid-write) and says how long it claims to be', () => {
    const record = whole(lines('m,t=a v=1 1\n'), 1, 1);
    expect(decodeRecord(record.subarray(0, HEADER_BYTES - 1), 0)).toEqual({ ok: false, reason: 'short' });
    expect(decodeRecord(record.subarray(0, record.length - 1), 0)).toEqual({ ok: false, reason: 'short', claims: record.length });
    // What journal.test.ts appends to a segment: a header promising 1000 bytes, then 3 bytes.
    const torn = Buffer.alloc(23);
    torn.writeUInt32LE(1000, 0);
    torn.writeUInt32LE(1, 8);
    expect(decodeRecord(torn, 0)).toEqual({ ok: false, reason: 'short', claims: HEADER_BYTES + 1000 });
  });

  it('does not take a zero-filled tail (a crash before the data reached the disk) for a record', () => {
    const zeros = Buffer.alloc(4000);
    expect(decodeRecord(zeros, 0)).toEqual({ ok: false, reason: 'zero-filled' });
    // A header of zeros with a plausible length still has no events.
    const noEvents = whole(lines('m v=1 1\n'), 1, 1);
    noEvents.writeUInt32LE(0, 8);
    expect(decodeRecord(noEvents, 0)).toEqual({ ok: false, reason: 'zero-filled' });
  });

  it('recognises a damaged body or checksum', () => {
    const body = lines('m,t=a v=1 1\nm,t=a v=2 2\n');
    const damagedBody = whole(body, 2, 1);
    damagedBody.writeUInt8(damagedBody.readUInt8(HEADER_BYTES + 5) ^ 0x01, HEADER_BYTES + 5);
    expect(decodeRecord(damagedBody, 0)).toEqual({ ok: false, reason: 'crc-mismatch' });
    const damagedCrc = whole(body, 2, 1);
    damagedCrc.writeUInt32LE((damagedCrc.readUInt32LE(4) + 1) >>> 0, 4);
    expect(decodeRecord(damagedCrc, 0)).toEqual({ ok: false, reason: 'crc-mismatch' });
  });

  it('without verification checks lengths only (for bytes the spool already vouches for)', () => {
    const record = whole(lines('m v=1 1\n'), 1, 5);
    record.writeUInt8(record.readUInt8(HEADER_BYTES) ^ 0xff, HEADER_BYTES);
    expect(decodeRecord(record, 0, false)).toMatchObject({ ok: true, count: 1, appendedAt: 5 });
    expect(decodeRecord(record.subarray(0, record.length - 1), 0, false)).toEqual({ ok: false, reason: 'short', claims: record.length });
  });
});
