import type { FactContext } from './facts.js';
import { FACTS } from './facts.js';
import { OPERATOR_NAMES, evaluateOperator } from './operators.js';

/** true / false when certain, undefined when the engine must decide. */
export type Verdict = boolean | undefined;

type Node = Record<string, unknown>;

/** What a fact without params is given (one object, not one per check). */
const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Judges a rule's conditions synchronously, with the facts' own functions and the engine's own
 * operators, so that a rule that cannot fire is not run through json-rules-engine at all: its
 * run costs promises, an almanac and a copy of the conditions per rule, and most readings (a
 * temperature inside the band) fire nothing. json-rules-engine still decides every firing:
 * rules judged true or undecided are run through it. Anything not judged exactly (a `path`, a
 * fact compared with another fact, `in` on a string, a fact that throws) is undefined.
 * Mirrors the engine: `all`/`any` of nothing is true, `not` negates, params default to {}.
 */
export function precheck(node: unknown, ctx: FactContext): Verdict {
  if (typeof node !== 'object' || node === null) return undefined;
  const n = node as Node;
  const all = n['all'];
  if (Array.isArray(all)) {
    let unknown = false;
    for (const c of all) {
      const v = precheck(c, ctx);
      if (v === false) return false;
      if (v === undefined) unknown = true;
    }
    return unknown ? undefined : true;
  }
  const any = n['any'];
  if (Array.isArray(any)) {
    if (any.length === 0) return true;
    let unknown = false;
    for (const c of any) {
      const v = precheck(c, ctx);
      if (v === true) return true;
      if (v === undefined) unknown = true;
    }
    return unknown ? undefined : false;
  }
  if ('not' in n) {
    const v = precheck(n['not'], ctx);
    return v === undefined ? undefined : !v;
  }
  const { fact, operator, value } = n;
  const spec = typeof fact === 'string' ? FACTS[fact] : undefined;
  if (!spec || typeof operator !== 'string' || !OPERATOR_NAMES.includes(operator) || n['path'] !== undefined) return undefined;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return undefined;
  // The engine's in/notIn use value.indexOf: on a string that is a substring test.
  if ((operator === 'in' || operator === 'notIn') && !Array.isArray(value)) return undefined;
  let factValue: unknown;
  try {
    factValue = spec.compute(ctx, (n['params'] ?? NO_PARAMS) as Record<string, unknown>);
  } catch {
    return undefined;
  }
  if (factValue instanceof Promise) return undefined;
  return evaluateOperator(operator, factValue, value);
}
