import { crc32 } from 'node:zlib';

/**
 * A spool record, and the one place that knows its layout (little-endian):
 *
 *   [u32 body length][u32 crc32(body)][u32 flags | event count][f64 appended at, epoch ms] body
 *
 * The body is the group's line-protocol lines, `\n`-terminated, in UTF-8. The count's top bit
 * says the lines' times are in ns; without it they are in ms (a record an older version left,
 * to be written as such: its ms read as ns would land in January 1970).
 */
const NS_FLAG = 0x8000_0000;

/** The precision of a record's point times. */
export type Precision = 'ns' | 'ms';
export const HEADER_BYTES = 20;

export interface RecordHeader {
  readonly bodyLength: number;
  readonly crc: number;
  readonly count: number;
  readonly appendedAt: number;
  readonly precision: Precision;
}

export interface DecodedRecord extends RecordHeader {
  readonly ok: true;
  /** A view into the buffer decoded, not a copy. */
  readonly body: Buffer;
  /** Header and body: where the next record starts, relative to this one. */
  readonly bytes: number;
}

export interface NotARecord {
  readonly ok: false;
  /**
   * - `short`: the buffer ends before the record does (a torn write, or a read that stopped short);
   * - `zero-filled`: a header of zeros (a crash before the data reached the disk), which would
   *   pass the CRC of nothing;
   * - `crc-mismatch`: the body is not what was written.
   */
  readonly reason: 'short' | 'zero-filled' | 'crc-mismatch';
  /** For `short` with a whole header: the bytes (header included) the record says it has. */
  readonly claims?: number;
}

/** The record for these lines, as [header, body], for one vectored write. */
export function encodeRecord(body: Buffer, count: number, appendedAt: number, precision: Precision = 'ns'): [Buffer, Buffer] {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(body.length, 0);
  header.writeUInt32LE(crc32(body), 4);
  header.writeUInt32LE((count | (precision === 'ns' ? NS_FLAG : 0)) >>> 0, 8);
  header.writeDoubleLE(appendedAt, 12);
  return [header, body];
}

/**
 * The record at `at` in `data`. `verify` (the default) is for bytes nobody vouches for, what a
 * previous run left on disk: zero-filled headers and CRC mismatches are not records. Without it
 * only the lengths are checked: for bytes this run wrote or recovery already verified, where the
 * sink's read path should stay a plain copy.
 */
export function decodeRecord(data: Buffer, at: number, verify = true): DecodedRecord | NotARecord {
  if (at + HEADER_BYTES > data.length) return { ok: false, reason: 'short' };
  const bodyLength = data.readUInt32LE(at);
  const crc = data.readUInt32LE(at + 4);
  const counted = data.readUInt32LE(at + 8);
  const count = (counted & ~NS_FLAG) >>> 0;
  const bytes = HEADER_BYTES + bodyLength;
  if (verify && (bodyLength === 0 || count === 0)) return { ok: false, reason: 'zero-filled' };
  if (at + bytes > data.length) return { ok: false, reason: 'short', claims: bytes };
  const body = data.subarray(at + HEADER_BYTES, at + bytes);
  if (verify && crc32(body) !== crc) return { ok: false, reason: 'crc-mismatch' };
  return { ok: true, bodyLength, crc, count, appendedAt: data.readDoubleLE(at + 12), precision: counted & NS_FLAG ? 'ns' : 'ms', body, bytes };
}
