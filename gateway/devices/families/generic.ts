/**
 * A generic mapping for anything else, in the manner of Telegraf's `topic_parsing` + `json_v2`: a
 * topic pattern whose named segments give the native id, and per field where its value is in the
 * payload (a dotted path into JSON, or the whole payload) and which kind it is.
 *
 *   { name: 'lab', topic: 'lab/{room}/{sensor}/telemetry', id: '{room}-{sensor}', format: 'json',
 *     fields: [{ path: 'env.temp_f', kind: 'temperature', unit: 'F' }, { path: 'door', kind: 'contact', invert: true }],
 *     time: { path: 'ts', format: 'unix_ms' } }
 */
import { Collector, NOT_MINE, failure } from '../collect.js';
import { epochToIso, isObject, own, parseJson, payloadText, toNumber, trustedTime, type Json } from '../normalise.js';
import { CONTRACT_KINDS, type ContractKind, type DecodeResult } from '../types.js';

export interface GenericField {
  /** Dotted path into the JSON payload (`env.temp`, `list.0`, `list[0]`); empty or absent for the whole payload. */
  path?: string;
  /** The key the reading is reported under; default the path (or `value`). */
  key?: string;
  kind?: ContractKind;
  /** The unit the value is sent in: `C`, `F`, `K` for temperatures; `kW` for power. */
  unit?: string;
  /** The device's true means closed (contact) or absent (occupancy, motion). */
  invert?: boolean;
}

export interface GenericMapping {
  name: string;
  /** Literal segments, `{name}` (one segment, captured), `+` (one segment), a final `#` (the rest). */
  topic: string;
  /** The native id from captured segments, e.g. `{device}` or `{site}-{device}`. */
  id: string;
  format: 'json' | 'value';
  fields: readonly GenericField[];
  time?: { path: string; format: 'iso' | 'unix' | 'unix_ms' };
}

export interface CompiledMapping {
  mapping: GenericMapping;
  match: (topic: string) => Record<string, string> | null;
}

export type CompileResult = { ok: true; compiled: CompiledMapping } | { ok: false; reason: string };

const NAME = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export function compileMapping(mapping: GenericMapping): CompileResult {
  const bad = (why: string): CompileResult => ({ ok: false, reason: `generic mapping "${mapping.name}": ${why}` });
  const segs = mapping.topic.split('/');
  if (segs.length === 0 || mapping.topic === '') return bad('topic is empty');
  const names = new Set<string>();
  for (const [i, s] of segs.entries()) {
    if (s === '#' && i !== segs.length - 1) return bad('# may only end the topic');
    const n = NAME.exec(s);
    if (n?.[1]) {
      if (names.has(n[1])) return bad(`segment {${n[1]}} appears twice`);
      names.add(n[1]);
    } else if (s.includes('{') || s.includes('}') || (s.includes('+') && s !== '+') || (s.includes('#') && s !== '#')) return bad(`segment "${s}" is neither literal, {name}, + nor #`);
  }
  for (const ref of mapping.id.matchAll(/\{([^}]*)\}/g)) if (!names.has(ref[1] ?? '')) return bad(`id uses {${ref[1]}}, which the topic does not capture`);
  if (!/\{[^}]+\}/.test(mapping.id)) return bad('id must use at least one captured segment');
  if (mapping.fields.length === 0) return bad('no fields');
  for (const f of mapping.fields) if (f.kind !== undefined && !(CONTRACT_KINDS as readonly string[]).includes(f.kind)) return bad(`unknown kind "${f.kind}"`);
  const match = (topic: string): Record<string, string> | null => {
    const parts = topic.split('/');
    const out = Object.create(null) as Record<string, string>;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      if (s === '#') return parts.length >= i ? out : null;
      const p = parts[i];
      if (p === undefined || p === '') return null;
      const n = NAME.exec(s);
      if (n?.[1]) out[n[1]] = p;
      else if (s !== '+' && s !== p) return null;
    }
    return parts.length === segs.length ? out : null;
  };
  return { ok: true, compiled: { mapping, match } };
}

function pathSteps(path: string): string[] {
  return path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((s) => s !== '');
}

function at(root: Json, path: string | undefined): Json | undefined {
  let cur: Json | undefined = root;
  for (const step of pathSteps(path ?? '')) {
    if (Array.isArray(cur) && /^\d+$/.test(step)) cur = cur[Number(step)];
    else if (isObject(cur)) cur = own(cur, step);
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** The first compiled mapping whose topic pattern matches decodes the message. */
export function decode(mappings: readonly CompiledMapping[], topic: string, payload: Buffer): DecodeResult {
  for (const { mapping, match } of mappings) {
    const seg = match(topic);
    if (!seg) continue;
    const id = mapping.id.replace(/\{([^}]*)\}/g, (_, n: string) => seg[n] ?? '');
    const text = payloadText(payload);
    let root: Json = text;
    if (mapping.format === 'json') {
      const p = parseJson(text);
      if (!p.ok) return failure('generic', id, `${mapping.name}: ${p.reason}`);
      root = p.value;
    }
    const c = new Collector('generic', id);
    for (const f of mapping.fields) {
      const key = f.key ?? (f.path || 'value');
      const raw = mapping.format === 'json' ? at(root, f.path) : text;
      if (raw === undefined) {
        c.problem(`${key} is missing`);
        continue;
      }
      c.add(key, f.kind ?? null, raw, { unit: f.unit, invert: f.invert, scale: f.kind === 'power' && f.unit === 'kW' ? 1000 : undefined });
    }
    if (mapping.time) {
      const raw = mapping.format === 'json' ? at(root, mapping.time.path) : undefined;
      const n = toNumber(raw);
      const ts = mapping.time.format === 'iso' ? trustedTime(raw) : n === null ? undefined : epochToIso(mapping.time.format === 'unix' ? n : n / 1000);
      if (ts !== undefined) c.ts = ts;
    }
    return c.result();
  }
  return NOT_MINE;
}
