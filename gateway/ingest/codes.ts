/**
 * Codes typed on a keypad are secrets: a Zigbee2MQTT keypad reports the PIN typed before an
 * arm/disarm action as `action_code` (zigbee-herdsman-converters). A native message has them
 * replaced by CODE_MARKER before the gateway reads it, so no copy it keeps (a device's sample on
 * GET /api/devices, a dead letter's payload and detail, the log) holds the code, and a redrive
 * of that dead letter reads the same message as the first time (the same reading ids).
 */

/** Keys whose value is a code someone typed. Only keys real firmware sends (README "Connect your devices"). */
const CODE_KEYS = new Set(['action_code']);
export const CODE_MARKER = '<redacted>';
/** Larger payloads are not parsed for codes (a Zigbee2MQTT bridge/devices names `action_code` as a property, not a value). */
const MAX_BYTES = 64 * 1024;
const MAX_DEPTH = 8;
const NEEDLES = [...CODE_KEYS].map((k) => Buffer.from(`"${k}"`));

function redact(value: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return false;
  let changed = false;
  if (Array.isArray(value)) {
    for (const item of value) changed = redact(item, depth + 1) || changed;
    return changed;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (CODE_KEYS.has(key) && obj[key] !== null && obj[key] !== CODE_MARKER) {
      obj[key] = CODE_MARKER;
      changed = true;
    } else changed = redact(obj[key], depth + 1) || changed;
  }
  return changed;
}

/** The payload with every keypad code replaced by CODE_MARKER (the same buffer when it holds none). */
export function withoutCodes(payload: Buffer, topic = ''): Buffer {
  return takeCode(payload, topic).payload;
}

/**
 * The payload with every keypad code replaced by CODE_MARKER, and the code typed (the top-level
 * `action_code` of a JSON object, as text) for the one check the gateway makes of it as the
 * keypad's alarm panel (keypad.ts): the caller holds it in a local only, never keeps nor logs it.
 */
export function takeCode(payload: Buffer, topic = ''): { readonly payload: Buffer; readonly code?: string } {
  // Zigbee2MQTT's `output: attribute` sends each key alone, `<name>/action_code` and the bare code:
  // the whole payload is the secret (not checked: the panel reads the JSON state only).
  // An empty one clears a retained message: nothing to hide, and it must stay empty to clear it.
  if (CODE_KEYS.has(topic.slice(topic.lastIndexOf('/') + 1)) && payload.length > 0 && payload.length <= MAX_BYTES) return payload.toString('utf8') === CODE_MARKER ? { payload } : { payload: Buffer.from(CODE_MARKER) };
  if (payload.length > MAX_BYTES || !NEEDLES.some((n) => payload.includes(n))) return { payload };
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    // Not JSON: the code cannot be told from the rest; the key's value is blanked in the text.
    return { payload: Buffer.from(payload.toString('utf8').replace(/("action_code"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]+)/g, `$1"${CODE_MARKER}"`)) };
  }
  const typed = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>)['action_code'] : undefined;
  // A Centralite 3400 exposes it as a number; a redriven dead letter holds the marker, no code.
  const code = (typeof typed === 'string' && typed !== CODE_MARKER) || typeof typed === 'number' ? String(typed) : undefined;
  const redacted = redact(doc, 0) ? Buffer.from(JSON.stringify(doc)) : payload;
  return code === undefined ? { payload: redacted } : { payload: redacted, code };
}
