/**
 * Small pure helpers every decoder shares: payload text and JSON (never throwing, no prototype
 * surprises), numbers sent as strings, ON/OFF words, °F → °C, epoch seconds vs milliseconds, and
 * which timestamps can be trusted.
 */
import type { Scalar } from './types.js';

/** Native payloads are parsed up to this size; bigger ones are refused. */
export const MAX_JSON_BYTES = 256 * 1024;

/**
 * The one exception: a Zigbee2MQTT `<base>/bridge/devices`, every device with its definition's
 * exposes (2–15 KB a device), so hundreds of KB for an ordinary network. Read up to this size (a
 * few thousand devices; parsing 4 MiB takes tens of milliseconds, and it comes at the bridge's
 * start and when a device joins, leaves or is renamed); bigger is a dead letter.
 */
export const MAX_BRIDGE_DEVICES_BYTES = 4 * 1024 * 1024;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function payloadText(payload: Buffer): string {
  return payload.toString('utf8');
}

export type ParsedJson = { ok: true; value: Json } | { ok: false; reason: string };

/** JSON.parse that never throws. JSON.parse defines `__proto__` as an own data property, so reading keys with {@link own} is safe. */
export function parseJson(text: string, maxBytes = MAX_JSON_BYTES): ParsedJson {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) return { ok: false, reason: `payload is larger than ${maxBytes} bytes` };
  try {
    return { ok: true, value: JSON.parse(text) as Json };
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An own property of a parsed JSON object (never one inherited from Object.prototype). */
export function own(obj: JsonObject, key: string): Json | undefined {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** A parsed JSON object, or undefined. */
export function parseObject(text: string): JsonObject | undefined {
  const r = parseJson(text);
  return r.ok && isObject(r.value) ? r.value : undefined;
}

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A finite number from a number or a numeric string (`"37.00"`, `" 21.5 "`); null otherwise (`"nan"`, `"n/a"`, `""`, Infinity). */
export function toNumber(v: Json | undefined): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const s = v.trim();
    if (!NUMERIC.test(s)) return null;
    const n = Number(s);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

const TRUE_WORDS = new Set(['on', 'true', '1', 'yes', 'online']);
const FALSE_WORDS = new Set(['off', 'false', '0', 'no', 'offline']);

/** A boolean from true/false, 1/0, and the words ON/OFF, true/false, 1/0 in any case; null otherwise. */
export function toBool(v: Json | undefined): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : null;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE_WORDS.has(s)) return true;
    if (FALSE_WORDS.has(s)) return false;
  }
  return null;
}

/** `on`/`off` from the same words as {@link toBool}. */
export function toOnOff(v: Json | undefined): 'on' | 'off' | null {
  const b = toBool(v);
  return b === null ? null : b ? 'on' : 'off';
}

/** Rounded to 0.01 so a conversion does not store float noise (96.35 °F → 35.75 °C, not 35.749999). */
export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export function fahrenheitToCelsius(f: number): number {
  return round2(((f - 32) * 5) / 9);
}

/** °C from a value in °C, °F or K (unit strings as firmwares write them: `C`, `°C`, `F`, `°F`, `K`); null for another unit. */
export function toCelsius(value: number, unit: string | undefined): number | null {
  const u = (unit ?? 'C').trim().replace(/^°/, '').replace(/^º/, '').toUpperCase();
  if (u === 'C' || u === '') return value;
  if (u === 'F') return fahrenheitToCelsius(value);
  if (u === 'K') return round2(value - 273.15);
  return null;
}

/** hPa in one of each pressure unit a firmware says (Tasmota's PressureUnit: hPa, mmHg with SetOption24, inHg with SetOption139). */
const HPA_PER: Readonly<Record<string, number>> = { hpa: 1, mbar: 1, pa: 0.01, kpa: 10, mmhg: 1.333224, inhg: 33.8639 };

/** A pressure in unit `from` in unit `to`, or null when either is not a pressure unit. */
export function convertPressure(value: number, from: string, to: string): number | null {
  const [f, t] = [HPA_PER[from.trim().toLowerCase()], HPA_PER[to.trim().toLowerCase()]];
  return f === undefined || t === undefined ? null : round2((value * f) / t);
}

/** Earliest and latest instants accepted from a device clock (a device without time sync sends uptime-based numbers). */
const MIN_TRUSTED_MS = Date.UTC(2000, 0, 1);
const MAX_TRUSTED_MS = Date.UTC(2200, 0, 1);

/** ISO-8601 UTC from epoch seconds (float, as Shelly sends) or milliseconds: below 1e11 is read as seconds. */
export function epochToIso(n: number): string | undefined {
  if (!Number.isFinite(n) || n <= 0) return undefined;
  const ms = n < 1e11 ? Math.round(n * 1000) : Math.round(n);
  if (ms < MIN_TRUSTED_MS || ms > MAX_TRUSTED_MS) return undefined;
  return new Date(ms).toISOString();
}

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * ISO-8601 UTC from a device time string only if it carries its zone (`Z` or `+02:00`); a local time
 * without offset (Tasmota's default `Time`) is not trusted and gives undefined.
 */
export function trustedTime(v: Json | undefined): string | undefined {
  if (typeof v === 'number') return epochToIso(v);
  if (typeof v !== 'string' || !ISO_WITH_OFFSET.test(v.trim())) return undefined;
  const ms = Date.parse(v.trim());
  if (!Number.isFinite(ms) || ms < MIN_TRUSTED_MS || ms > MAX_TRUSTED_MS) return undefined;
  return new Date(ms).toISOString();
}

export function isScalar(v: Json | undefined): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** A scalar as stored for an unmapped key: numbers sent as strings become numbers, other strings stay. */
export function rawScalar(v: string | number | boolean): Scalar {
  if (typeof v === 'string') {
    const n = toNumber(v);
    return n === null ? v : n;
  }
  return v;
}

/** How a bad value is shown in a problem: strings quoted, others as JSON (`"n/a"`, `null`). */
export function show(v: Json | undefined): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** A topic segment list, no empty-string surprises for `a//b` (kept as empty segments). */
export function segments(topic: string): string[] {
  return topic.split('/');
}
