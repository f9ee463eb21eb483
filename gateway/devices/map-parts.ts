/** The device map's smaller sections: added kinds, per-device key rules and Tasmota's topics (see ./map.ts). */
import type { KindDefinition } from '../core/kinds.js';
import type { TasmotaOptions } from './types.js';

/** A native key mapped to a kind (`null`: ignored, not even counted as unmapped). */
export interface KeyRule {
  readonly kind: string | null;
  /** Multiply the value (mV → V: 0.001). */
  readonly scale?: number;
  /** The device's true means the opposite of the kind's (a contact whose true means closed). */
  readonly invert?: boolean;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const q = JSON.stringify;
const KIND_KEYS = new Set(['unit', 'type', 'min', 'max', 'keys']);

/** `*` matches any run of characters; everything else is literal; case-insensitive. */
export function keyPattern(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

export function checkKinds(section: unknown, problems: string[]): { kinds: KindDefinition[]; kindKeys: Map<string, RegExp[]> } {
  const kinds: KindDefinition[] = [];
  const kindKeys = new Map<string, RegExp[]>();
  if (section === undefined || section === null) return { kinds, kindKeys };
  if (!isRecord(section)) {
    problems.push('kinds: must be a mapping of kind name to { unit, type: number|boolean, min?, max?, keys? }');
    return { kinds, kindKeys };
  }
  for (const [name, spec] of Object.entries(section)) {
    const at = `kinds.${name}`;
    if (!isRecord(spec)) {
      problems.push(`${at}: must be { unit, type: number|boolean, min?, max?, keys? }`);
      continue;
    }
    for (const k of Object.keys(spec)) if (!KIND_KEYS.has(k)) problems.push(`${at}.${k}: unknown (expected ${[...KIND_KEYS].join(', ')})`);
    const type = spec['type'] ?? 'number';
    if (type !== 'number' && type !== 'boolean') problems.push(`${at}.type: must be number or boolean (got ${q(type)})`);
    const unit = spec['unit'] ?? (type === 'boolean' ? 'bool' : undefined);
    if (typeof unit !== 'string' || unit === '') problems.push(`${at}.unit: required for a number kind (hPa, µg/m³, ppb, V…)`);
    for (const k of ['min', 'max'] as const) if (spec[k] !== undefined && (typeof spec[k] !== 'number' || !Number.isFinite(spec[k]))) problems.push(`${at}.${k}: must be a number`);
    const keys = spec['keys'] ?? [];
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && k !== '')) problems.push(`${at}.keys: must be a list of native key patterns ("pressure", "*.Pressure")`);
    else kindKeys.set(name, keys.map(keyPattern));
    kinds.push({
      name,
      unit: typeof unit === 'string' ? unit : '',
      type: type === 'boolean' ? 'boolean' : 'number',
      ...(typeof spec['min'] === 'number' ? { minimum: spec['min'] } : {}),
      ...(typeof spec['max'] === 'number' ? { maximum: spec['max'] } : {}),
    });
  }
  return { kinds, kindKeys };
}

/** `keys: { <native key>: <kind> | ignore | { kind, scale?, invert? } }` */
export function checkKeys(section: unknown, at: string, known: ReadonlySet<string>, problems: string[]): Map<string, KeyRule> {
  const out = new Map<string, KeyRule>();
  if (!isRecord(section)) {
    problems.push(`${at}: must map native keys to a kind, ignore, or { kind, scale?, invert? }`);
    return out;
  }
  for (const [key, v] of Object.entries(section)) {
    const rule: Record<string, unknown> = typeof v === 'string' || v === null ? { kind: v } : isRecord(v) ? v : { kind: undefined };
    const kind = rule['kind'];
    if (kind === 'ignore' || kind === null) {
      out.set(key, { kind: null });
      continue;
    }
    if (typeof kind !== 'string' || !known.has(kind)) {
      problems.push(`${at}.${q(key)}: ${q(kind)} is not a kind (the contract's, or one under kinds:) nor ignore`);
      continue;
    }
    const scale = rule['scale'];
    if (scale !== undefined && (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0)) problems.push(`${at}.${q(key)}.scale: must be a non-zero number`);
    const invert = rule['invert'];
    if (invert !== undefined && typeof invert !== 'boolean') problems.push(`${at}.${q(key)}.invert: must be true or false`);
    out.set(key, { kind, ...(typeof scale === 'number' ? { scale } : {}), ...(invert === true ? { invert } : {}) });
  }
  return out;
}

const TASMOTA_KEYS = new Set(['fullTopics', 'prefixes']);
const PREFIXES = ['cmnd', 'stat', 'tele'] as const;
/** A wildcard (or NUL) in a topic: nothing publishes there, and commands under it would be invalid. */
const WILDCARD = /[+#\u0000]/;

/**
 * `tasmota: { fullTopics, prefixes }`: FullTopic templates with %prefix% and %topic%, prefix words,
 * none holding `+`, `#` or NUL (the broker's native ACL ignores such a template, commands under it
 * would go to a wildcard). A %topic% or %prefix% that is not a whole level stays allowed: the
 * decoder reads it, and such a Tasmota needs a `bridge` credential (README "Who may talk").
 */
export function checkTasmota(section: unknown, problems: string[]): TasmotaOptions | undefined {
  if (section === undefined || section === null) return undefined;
  if (!isRecord(section)) {
    problems.push('tasmota: must be { fullTopics: [...], prefixes: { cmnd, stat, tele } }');
    return undefined;
  }
  for (const k of Object.keys(section)) if (!TASMOTA_KEYS.has(k)) problems.push(`tasmota.${k}: unknown (expected ${[...TASMOTA_KEYS].join(', ')})`);
  const full = section['fullTopics'];
  if (full !== undefined && (!Array.isArray(full) || !full.every((t) => typeof t === 'string' && t.includes('%prefix%') && t.includes('%topic%')))) {
    problems.push('tasmota.fullTopics: must be a list of FullTopic templates with %prefix% and %topic%');
  } else if (Array.isArray(full)) {
    full.forEach((t: string, i) => void (WILDCARD.test(t) && problems.push(`tasmota.fullTopics[${i}]: ${q(t)} holds + or # (a wildcard): a FullTopic is a topic, commands under it could not be published`)));
  }
  const prefixes = section['prefixes'];
  if (prefixes !== undefined && (!isRecord(prefixes) || Object.keys(prefixes).some((k) => !(PREFIXES as readonly string[]).includes(k)))) {
    problems.push('tasmota.prefixes: must be { cmnd?, stat?, tele? } (Prefix1..3)');
  } else if (prefixes !== undefined) {
    for (const k of PREFIXES) {
      const w = prefixes[k];
      if (w !== undefined && (typeof w !== 'string' || w === '' || WILDCARD.test(w))) problems.push(`tasmota.prefixes.${k}: must be a word without + or # (got ${q(w)})`);
    }
  }
  return section;
}
