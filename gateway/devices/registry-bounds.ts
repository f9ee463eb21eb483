/**
 * What the device registry keeps of a device, bounded by size as well as by count: any client
 * with a bridge credential may send made-up devices with 100 keys of any length, and `GET
 * /api/devices` serves what is kept. Key names, values and texts are cut (a marker says so, the key
 * still listed), each cut counted and said once per burst (observability/evictions.ts cutCounter);
 * the whole registry is held under REGISTRY_MAX_BYTES by an estimate, its oldest devices going first.
 */

/** Longest unmapped key name kept (Zigbee2MQTT, Tasmota and Shelly keys are under 40 characters). */
export const MAX_KEY_CHARS = 100;
/** Longest problem or discovery note text kept (a config topic is held to MAX_TOPIC_LENGTH by the broker). */
export const MAX_TEXT_CHARS = 1000;
/** The sample payload kept, and each value in it. */
export const SAMPLE_CHARS = 1024;
export const SAMPLE_VALUE_CHARS = 64;
/** The whole registry, estimated: at 10,000 devices ~6.7 KB each (a device at every bound is ~50 KB). */
export const REGISTRY_MAX_BYTES = 64 * 1024 * 1024;
/** A sample is read as JSON (values cut, keys kept) up to this size; a larger one is cut as text. */
const SAMPLE_PARSE_BYTES = 256 * 1024;
export const CUT_MARKER = '…';

/** Told of a text cut to its bound: which, for the log. */
export type OnCut = (what: 'key' | 'value' | 'text' | 'sample') => void;

/** ~What a string costs in V8 at worst (two bytes a character, its header). */
export const textBytes = (s: string): number => 2 * s.length + 16;
/** An entry's fixed part: its fields, its maps and sets empty. */
export const ENTRY_BYTES = 1200;
/** A Map entry's own cost beyond its key and value. */
export const SLOT_BYTES = 40;

export function cut(text: string, max: number, onCut?: OnCut, what: Parameters<OnCut>[0] = 'text'): string {
  if (text.length <= max) return text;
  onCut?.(what);
  // Copied, not sliced: V8's slice keeps the whole text alive (a 560-character key for its first 100).
  return Buffer.from(`${text.slice(0, max)}${CUT_MARKER}`, 'utf8').toString('utf8');
}

/**
 * A sample payload of at most ~SAMPLE_CHARS: a JSON object over it keeps its first keys with
 * each value cut to SAMPLE_VALUE_CHARS (still valid JSON; a `"…"` key counts those left out),
 * anything else its first SAMPLE_CHARS characters.
 */
export function samplePayload(payload: Buffer, onCut?: OnCut): string {
  if (payload.length <= SAMPLE_CHARS) return payload.toString('utf8');
  onCut?.('sample');
  const doc = payload.length <= SAMPLE_PARSE_BYTES ? parseObject(payload) : undefined;
  if (!doc) return cut(payload.subarray(0, SAMPLE_CHARS * 4).toString('utf8'), SAMPLE_CHARS);
  const out: Record<string, unknown> = {};
  const keys = Object.keys(doc);
  let size = 2;
  let kept = 0;
  for (const key of keys) {
    const k = cut(key, MAX_KEY_CHARS);
    const raw = doc[key];
    const v = typeof raw === 'number' || typeof raw === 'boolean' || raw === null ? raw : cut(typeof raw === 'string' ? raw : (JSON.stringify(raw) ?? ''), SAMPLE_VALUE_CHARS);
    const adds = JSON.stringify(k).length + JSON.stringify(v).length + 2;
    if (size + adds > SAMPLE_CHARS) break;
    out[k] = v;
    size += adds;
    kept++;
  }
  if (kept < keys.length) out[CUT_MARKER] = `${keys.length - kept} more keys`;
  return JSON.stringify(out);
}

function parseObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(payload.toString('utf8'));
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The registry's size by estimate: each entry's own count kept on it (`bytes`), the total here.
 * Past the budget `over` forgets the oldest devices (not `keep`, the one growing).
 */
export class RegistryBytes {
  total = 0;
  constructor(
    readonly budget: number,
    private readonly over: (keep: object) => void,
    readonly onCut: OnCut | undefined,
  ) {}

  /** Entries gone: one still held by a caller (a message being placed) grows uncounted, not the total for good. */
  private readonly forgotten = new WeakSet<object>();

  add(e: { bytes: number }, n: number): void {
    e.bytes += n;
    if (this.forgotten.has(e)) return;
    this.total += n;
    if (this.total > this.budget) this.over(e);
  }

  /** An entry gone (forgotten, renamed away): its bytes no longer counted. */
  gone(e: { bytes: number }): void {
    if (this.forgotten.has(e)) return;
    this.forgotten.add(e);
    this.total -= e.bytes;
  }
}
