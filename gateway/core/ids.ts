import { randomFillSync } from 'node:crypto';

/**
 * UUIDv7 event ids (RFC 9562: 48 bits of Unix milliseconds, version 7, 12 random bits, the
 * variant, 62 random bits). Random bytes come from a pool refilled 64 KiB at a time (WebCrypto
 * per id showed up in the profile at 5,000 commands/s), and the text is written as ASCII into one
 * scratch buffer and read out as one string: uuid's `v7` allocated a view, an options object, a
 * byte array and a chain of string pieces per id (a few % of a commanding reading's allocation).
 * test/unit/core/ids.test.ts holds the format to uuid's own validator.
 */
const pool = Buffer.allocUnsafe(65536);
let at = pool.length;
const text = Buffer.alloc(36, 0x2d);
const HEX = Buffer.from('0123456789abcdef');
/** Where each of the 16 bytes goes in the text (the dashes stay where Buffer.alloc put them). */
const PLACES = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

function put(i: number, byte: number): void {
  const p = PLACES[i]!;
  text[p] = HEX[byte >>> 4]!;
  text[p + 1] = HEX[byte & 0x0f]!;
}

/**
 * The id of a status a native device's availability gave (its event id, marked): after a restart
 * the live page knows the device name was the device map's, so it is not shown once the map no
 * longer places it (a contract device's status has a bare event id).
 */
export function nativeStatusId(): string {
  return `${newEventId()}:native`;
}

export const isNativeStatusId = (id: string): boolean => id.endsWith(':native');

/** 48-bit milliseconds, most significant byte first (beyond 32 bits: no bitwise operators). */
function putTime(ms: number): void {
  const high = Math.floor(ms / 0x100000000);
  const low = ms >>> 0;
  put(0, (high >>> 8) & 0xff);
  put(1, high & 0xff);
  put(2, low >>> 24);
  put(3, (low >>> 16) & 0xff);
  put(4, (low >>> 8) & 0xff);
  put(5, low & 0xff);
}

/** rand_a of a derived id (below): it says the id is a native reading's (by chance 1 in 4,096 of other UUIDv7s). */
const DERIVED_RAND_A = '79a7';

/**
 * A UUIDv7 derived, not random: `timeMs` as its time and 62 bits of `digest` (a hash of what the id
 * names, at least 8 bytes) as rand_b, rand_a fixed. A native reading's id (ingest/native.ts): the
 * same message gives the same id, so a resend is a duplicate, and it is still the UUIDv7 DESIGN.md's
 * envelope promises when the device gives none.
 */
export function derivedEventId(timeMs: number, digest: Uint8Array): string {
  putTime(Math.max(0, Math.floor(timeMs)));
  put(6, 0x79);
  put(7, 0xa7);
  put(8, 0x80 | (digest[0]! & 0x3f));
  for (let i = 9; i < 16; i++) put(i, digest[i - 8]!);
  return text.toString('latin1', 0, 36);
}

/** Whether `id` is one derivedEventId made (its version, rand_a and variant). */
export function isDerivedEventId(id: string): boolean {
  return id.length === 36 && id.startsWith(DERIVED_RAND_A, 14) && id.charCodeAt(8) === 45 && '89ab'.includes(id[19]!);
}

export function newEventId(): string {
  const now = Date.now();
  if (at + 10 > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  putTime(now);
  put(6, 0x70 | (pool[at]! & 0x0f));
  put(7, pool[at + 1]!);
  put(8, 0x80 | (pool[at + 2]! & 0x3f));
  for (let i = 9; i < 16; i++) put(i, pool[at + i - 6]!);
  at += 10;
  return text.toString('latin1', 0, 36);
}
