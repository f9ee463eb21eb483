import { isUtf8 } from 'node:buffer';
import type { DeadLetterReason } from '../core/events.js';

/**
 * The payloads of the contract's control topics (device status, zone armed, actuator state,
 * alarm acknowledgement), each parsed to what it says or to why it is a dead letter.
 */

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: DeadLetterReason; readonly detail: string };

const STATUS_VALUES: Readonly<Record<string, boolean>> = { online: true, offline: false, '"online"': true, '"offline"': false, true: true, false: false, '1': true, '0': false };
const ARMED_VALUES: Readonly<Record<string, boolean>> = {
  true: true, false: false, armed: true, disarmed: false, '"armed"': true, '"disarmed"': false, on: true, off: false, '1': true, '0': false,
};

function word(payload: Buffer): string {
  return payload.toString('utf8').trim().toLowerCase();
}

/** A word payload longer than MAX_PAYLOAD_BYTES is refused for its size (before it is read as text). */
function tooLarge(payload: Buffer, maxBytes: number, what: string): Parsed<never> | undefined {
  return payload.length > maxBytes ? { ok: false, code: 'payload_too_large', detail: `${what} is ${payload.length} bytes, more than MAX_PAYLOAD_BYTES (${maxBytes})` } : undefined;
}

/** `devices/<device>/status`: online or offline. */
export function parseOnline(payload: Buffer, maxBytes: number): Parsed<boolean> {
  const big = tooLarge(payload, maxBytes, 'a device status');
  if (big) return big;
  const online = STATUS_VALUES[word(payload)];
  return online === undefined ? { ok: false, code: 'invalid_payload', detail: 'device status must be "online" or "offline"' } : { ok: true, value: online };
}

/** `zones/<site>/<zone>/armed`: armed or not. */
export function parseArmed(payload: Buffer, maxBytes: number): Parsed<boolean> {
  const big = tooLarge(payload, maxBytes, 'a zone armed state');
  if (big) return big;
  const text = word(payload);
  // As POST /api/zones/…/armed takes it: {"armed": true}.
  const armed = text.startsWith('{') ? armedField(text) : ARMED_VALUES[text];
  return armed === undefined ? { ok: false, code: 'invalid_payload', detail: 'zone armed state must be true/false, armed/disarmed, on/off, 1/0 or {"armed": true}' } : { ok: true, value: armed };
}

function armedField(text: string): boolean | undefined {
  try {
    const armed = (JSON.parse(text) as { armed?: unknown } | null)?.armed;
    return typeof armed === 'boolean' ? armed : undefined;
  } catch {
    return undefined;
  }
}

/** A payload that must be one JSON object (an actuator's state is shaped like a command's data). */
export function jsonObject(payload: Buffer, maxBytes: number, what: string, example = '{"mode":"cool","setpoint":22}'): Parsed<Readonly<Record<string, unknown>>> {
  const big = tooLarge(payload, maxBytes, what);
  if (big) return big;
  if (!isUtf8(payload)) return { ok: false, code: 'invalid_encoding', detail: `${what} must be UTF-8 JSON` };
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'invalid_json', detail: `${what} is not JSON (${(err as Error).message}): it must be a JSON object (e.g. ${example})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, code: 'invalid_payload', detail: `${what} must be a JSON object (e.g. ${example})` };
  return { ok: true, value: value as Record<string, unknown> };
}

/** An operator's acknowledgement: an empty payload, or `{"by": "…", "note": "…"}` (cut to 200 and 1,000 characters). */
export function parseAck(payload: Buffer, maxBytes: number): Parsed<{ by: string | undefined; note: string | undefined; clear?: boolean }> {
  const big = tooLarge(payload, maxBytes, 'an acknowledgement');
  if (big) return big;
  if (payload.length === 0 || payload.toString('utf8').trim() === '') return { ok: true, value: { by: undefined, note: undefined } };
  const parsed = jsonObject(payload, maxBytes, 'an acknowledgement', '{"by": "<who>", "note": "<text>"}');
  if (!parsed.ok) return parsed;
  const { by, note, clear } = parsed.value;
  if ((by !== undefined && typeof by !== 'string') || (note !== undefined && typeof note !== 'string') || (clear !== undefined && typeof clear !== 'boolean')) {
    return { ok: false, code: 'invalid_payload', detail: 'an acknowledgement is empty or {"by": "<who>", "note": "<text>", "clear": true} (strings; clear a boolean)' };
  }
  return { ok: true, value: { by: by?.slice(0, 200), note: note?.slice(0, 1000), ...(clear === true ? { clear } : {}) } };
}
