import { isUtf8 } from 'node:buffer';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { kindSpec, unknownKindDetail, type Kind, type KindSpec, type ReadingValue } from '../core/kinds.js';

export interface DecodedReading {
  readonly value: ReadingValue;
  /** Epoch ms from the payload's `ts`, if it had one. */
  readonly tsMs: number | undefined;
  readonly seq: number | undefined;
  readonly id: string | undefined;
}

export type PayloadProblem = 'payload_too_large' | 'invalid_encoding' | 'invalid_json' | 'invalid_payload' | 'clock_skew' | 'unknown_kind';

export type DecodeResult =
  | { readonly ok: true; readonly reading: DecodedReading }
  | { readonly ok: false; readonly code: PayloadProblem; readonly detail: string };

/** A reading's `ts` may be at most this far ahead of the gateway's clock. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
/** ISO-8601's basic format (`20261129T100000Z`), read as the extended one. */
const ISO_8601_BASIC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;
/** A date-time without a zone: ISO-8601 local time, which the gateway cannot place. */
const ISO_8601_NO_ZONE = /^\d{4}-?\d{2}-?\d{2}T\d{2}:?\d{2}(:?\d{2}(\.\d+)?)?$/;
/** Epoch ms as text (`"1795968000000"`). */
const EPOCH_MS_TEXT = /^\d{1,16}$/;

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });

function readingSchema(spec: KindSpec): Record<string, unknown> {
  return {
    type: 'object',
    required: ['value'],
    properties: {
      value: spec.valueSchema,
      ts: { type: ['string', 'number'] },
      seq: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      id: { type: 'string', minLength: 1, maxLength: 128 },
    },
  };
}

/** One compiled validator per kind definition (kinds added by the device map are compiled when first used). */
const validators = new WeakMap<KindSpec, ValidateFunction>();

function validatorOf(spec: KindSpec): ValidateFunction {
  let v = validators.get(spec);
  if (!v) validators.set(spec, (v = ajv.compile(readingSchema(spec))));
  return v;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
/** The ISO_8601 pattern has already checked these positions are digits. */
const digitAt = (s: string, i: number): number => s.charCodeAt(i) - 48;

/** Epoch ms of a string `ts`: ISO-8601 with a zone (extended or basic format), or epoch ms as digits; NaN otherwise. */
function stringTs(ts: string): number {
  if (ISO_8601.test(ts)) return dayExists(ts) ? Date.parse(ts) : Number.NaN;
  if (EPOCH_MS_TEXT.test(ts)) return Number(ts);
  const b = ISO_8601_BASIC.exec(ts);
  if (!b) return Number.NaN;
  const extended = `${b[1]}-${b[2]}-${b[3]}T${b[4]}:${b[5]}${b[6] === undefined ? '' : `:${b[6]}`}${b[7] ?? ''}${b[8]}`;
  return dayExists(extended) ? Date.parse(extended) : Number.NaN;
}

/**
 * Date.parse rolls a day past the month's end over (2026-02-30 is 2 March): such a date is refused
 * instead. On the path of every reading with an ISO `ts`: digits read in place, nothing allocated.
 */
function dayExists(iso: string): boolean {
  const year = digitAt(iso, 0) * 1000 + digitAt(iso, 1) * 100 + digitAt(iso, 2) * 10 + digitAt(iso, 3);
  const month = digitAt(iso, 5) * 10 + digitAt(iso, 6);
  const day = digitAt(iso, 8) * 10 + digitAt(iso, 9);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!);
}

/** A value as JSON for a message, bounded: a hostile 30,000-level array must not blow the stack. */
function shown(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object' && value !== null) return 'an object';
  // JSON.stringify says null for Infinity (a JSON number too large, 1e400, parses to it).
  const text = typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function describe(spec: KindSpec, error: ErrorObject | undefined, doc: unknown): string {
  if (!error) return 'invalid reading';
  const where = error.instancePath === '' ? 'payload' : error.instancePath.slice(1).replaceAll('/', '.');
  let got = '';
  if (error.instancePath === '/value' && typeof doc === 'object' && doc !== null) {
    got = `, got ${shown((doc as Record<string, unknown>)['value'])}`;
  }
  const allowed = error.keyword === 'enum' ? ` (${JSON.stringify((error.params as { allowedValues: unknown }).allowedValues)})` : '';
  const unit = where === 'value' ? ` for ${spec.name} (${spec.unit})` : '';
  return `${where} ${error.message ?? 'is invalid'}${allowed}${unit}${got}`;
}

/**
 * Decodes and validates a reading payload for its kind. Never throws: every problem comes
 * back as a code (the dead letter's reason) and a sentence a person can act on.
 */
export function decodeReading(kind: Kind, payload: Buffer, nowMs: number, maxBytes: number): DecodeResult {
  if (payload.length > maxBytes) {
    return { ok: false, code: 'payload_too_large', detail: `payload is ${payload.length} bytes, the limit is ${maxBytes}` };
  }
  if (!isUtf8(payload)) return { ok: false, code: 'invalid_encoding', detail: 'payload is not valid UTF-8' };
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'invalid_json', detail: `payload is not JSON: ${(err as Error).message}` };
  }
  // A bare value (23.4, true, "ok") is shorthand for {"value": ...}.
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) doc = { value: doc };
  const spec = kindSpec(kind);
  if (!spec) return { ok: false, code: 'unknown_kind', detail: unknownKindDetail(kind) };
  const validate = validatorOf(spec);
  if (!validate(doc)) return { ok: false, code: 'invalid_payload', detail: describe(spec, validate.errors?.[0], doc) };
  const reading = doc as { value: ReadingValue; ts?: string | number; seq?: number; id?: string };

  let tsMs: number | undefined;
  if (typeof reading.ts === 'string') {
    tsMs = stringTs(reading.ts);
    if (Number.isNaN(tsMs)) return { ok: false, code: 'invalid_payload', detail: ISO_8601_NO_ZONE.test(reading.ts) ? `ts ${JSON.stringify(reading.ts)} has no time zone: add Z (UTC) or an offset such as +01:00` : `ts ${JSON.stringify(reading.ts)} is not an ISO-8601 date-time or epoch ms` };
    // Found by fuzzing: InfluxDB cannot store a time before 1677, so a year-1 reading came back as rejected_by_store.
    if (tsMs < 0) return { ok: false, code: 'invalid_payload', detail: `ts ${JSON.stringify(reading.ts)} is before 1970` };
  } else if (typeof reading.ts === 'number') {
    // Epoch ms; a fraction of a millisecond is dropped.
    tsMs = Math.floor(reading.ts);
    if (tsMs < 0 || tsMs > 8.64e15) return { ok: false, code: 'invalid_payload', detail: `ts ${tsMs} is not a valid epoch ms` };
  }
  if (tsMs !== undefined && tsMs > nowMs + MAX_FUTURE_SKEW_MS) {
    return {
      ok: false,
      code: 'clock_skew',
      detail: `ts ${new Date(tsMs).toISOString()} is ${Math.round((tsMs - nowMs) / 1000)} s in the future (more than ${MAX_FUTURE_SKEW_MS / 60000} min): check the device clock`,
    };
  }
  return { ok: true, reading: { value: reading.value, tsMs, seq: reading.seq, id: reading.id } };
}

/** Why a value is not a reading of `spec` (its type and range), or undefined when it is one. */
export function valueProblem(spec: KindSpec, value: unknown): string | undefined {
  const validate = validatorOf(spec);
  const doc = { value };
  return validate(doc) ? undefined : describe(spec, validate.errors?.[0], doc);
}
