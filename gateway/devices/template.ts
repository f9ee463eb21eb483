/**
 * The small part of Home Assistant's Jinja value templates the gateway understands:
 * `{{ value }}`, `{{ value_json.x }}`, `{{ value_json["x"] }}`, `{{ value_json['a']['b'] }}`,
 * `{{ value_json.list[0] }}`, each optionally followed by `| float`, `| int`, `| round(n)`
 * (and `float(d)`/`int(d)` with a default). Anything else is refused with the reason, never run.
 */
import { isObject, own, parseJson, round2, toNumber, type Json } from './normalise.js';
import type { Scalar } from './types.js';

export type Extracted = { ok: true; value: Scalar } | { ok: false; why: string };
export type Extractor = (payload: string) => Extracted;
export type CompiledTemplate = { ok: true; extract: Extractor; describe: string } | { ok: false; reason: string };

type Step = string | number;
type Filter = { name: 'float' | 'int'; fallback?: number } | { name: 'round'; digits: number };

const SUPPORTED = 'only {{ value }} and {{ value_json.<key or ["key"] or [index] …> }}, optionally | float, | int, | round(n), are understood';
const MAX_TEMPLATE = 512;

function refuse(template: string, why: string): CompiledTemplate {
  const shown = template.length > 80 ? `${template.slice(0, 77)}...` : template;
  return { ok: false, reason: `unsupported template ${JSON.stringify(shown)}: ${why}; ${SUPPORTED}` };
}

/** Parses `value_json.a["b"][0]` into steps; null when it is not that shape. */
function parsePath(expr: string): Step[] | null {
  const steps: Step[] = [];
  let i = 'value_json'.length;
  while (i < expr.length) {
    const rest = expr.slice(i);
    let m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
    if (m?.[1] !== undefined) {
      steps.push(m[1]);
      i += m[0].length;
      continue;
    }
    m = /^\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]/.exec(rest);
    if (m) {
      steps.push((m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1'));
      i += m[0].length;
      continue;
    }
    m = /^\[\s*(\d{1,6})\s*\]/.exec(rest);
    if (m?.[1] !== undefined) {
      steps.push(Number(m[1]));
      i += m[0].length;
      continue;
    }
    return null;
  }
  return steps;
}

function parseFilter(f: string): Filter | null {
  const s = f.trim();
  if (s === 'float' || s === 'int') return { name: s };
  let m = /^(float|int)\(\s*(-?\d+(?:\.\d+)?)\s*\)$/.exec(s);
  if (m?.[1] && m[2] !== undefined) return { name: m[1] as 'float' | 'int', fallback: Number(m[2]) };
  m = /^round(?:\(\s*(\d)\s*\))?$/.exec(s);
  if (m) return { name: 'round', digits: m[1] === undefined ? 0 : Number(m[1]) };
  return null;
}

export function compileTemplate(template: string | undefined): CompiledTemplate {
  if (template === undefined) return { ok: true, extract: (p) => ({ ok: true, value: p }), describe: 'value' };
  if (template.length > MAX_TEMPLATE) return refuse(template, `longer than ${MAX_TEMPLATE} characters`);
  const m = /^\s*\{\{(.*)\}\}\s*$/s.exec(template);
  if (!m?.[1]) return refuse(template, 'it is not a single {{ … }} expression');
  const body = m[1];
  if (/\{\{|\}\}|\{%|%\}/.test(body)) return refuse(template, 'it has more than one expression or a statement');
  const [exprRaw, ...filterRaw] = body.split('|');
  const expr = (exprRaw ?? '').trim();
  const filters: Filter[] = [];
  for (const f of filterRaw) {
    const parsed = parseFilter(f);
    if (!parsed) return refuse(template, `the filter ${JSON.stringify(f.trim())} is not float, int or round(n)`);
    filters.push(parsed);
  }
  let read: (payload: string) => Extracted;
  if (expr === 'value') read = (p) => ({ ok: true, value: p });
  else if (expr.startsWith('value_json')) {
    const steps = parsePath(expr);
    if (!steps || steps.length === 0) return refuse(template, `${JSON.stringify(expr)} is not a path into value_json`);
    read = (p) => follow(p, steps, expr);
  } else return refuse(template, `${JSON.stringify(expr)} is neither value nor value_json`);
  const extract: Extractor = (payload) => {
    const r = read(payload);
    if (!r.ok) return r;
    let v: Scalar = r.value;
    for (const f of filters) {
      const n = typeof v === 'boolean' ? null : toNumber(v);
      if (n === null) {
        if ((f.name === 'float' || f.name === 'int') && f.fallback !== undefined) v = f.fallback;
        else return { ok: false, why: `${expr} is ${JSON.stringify(v)}, not a number` };
        continue;
      }
      if (f.name === 'round') v = f.digits === 2 ? round2(n) : Math.round(n * 10 ** f.digits) / 10 ** f.digits;
      else v = f.name === 'int' ? Math.trunc(n) : n;
    }
    return { ok: true, value: v };
  };
  return { ok: true, extract, describe: [expr, ...filterRaw.map((f) => f.trim())].join(' | ') };
}

function follow(payload: string, steps: Step[], expr: string): Extracted {
  const p = parseJson(payload);
  if (!p.ok) return { ok: false, why: `${p.reason}, so ${expr} has no value` };
  let cur: Json | undefined = p.value;
  for (const step of steps) {
    if (typeof step === 'number') cur = Array.isArray(cur) ? cur[step] : undefined;
    else cur = isObject(cur) ? own(cur, step) : undefined;
    if (cur === undefined) return { ok: false, why: `${expr} is missing` };
  }
  if (typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean') return { ok: true, value: cur };
  return { ok: false, why: `${expr} is ${cur === null ? 'null' : 'not a single value'}` };
}
