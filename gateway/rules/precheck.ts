import type { FactContext } from './facts.js';
import { FACTS } from './facts.js';
import { operatorOf } from './operators.js';

/** true / false when certain, undefined when the engine must decide. */
export type Verdict = boolean | undefined;

/** A rule's conditions compiled once: judges them for a run's context. */
export type Check = (ctx: FactContext) => Verdict;

type Node = Record<string, unknown>;

/** What a fact without params is given (one object, not one per check). */
const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({});

const UNDECIDED: Check = () => undefined;
const TRUE: Check = () => true;

/**
 * Compiles a rule's conditions, once per pack load, into a function that judges them
 * synchronously with the facts' own functions and the engine's own operators, so that a rule
 * that cannot fire is not run through json-rules-engine at all: its run costs promises, an
 * almanac and a copy of the conditions per rule, and most readings (a temperature inside the
 * band) fire nothing. json-rules-engine still decides every firing: rules judged true or
 * undecided are run through it. Anything not judged exactly (a `path`, a fact compared with
 * another fact, `in` on a string, a fact that throws) is undefined. Mirrors the engine:
 * `all`/`any` of nothing is true, `not` negates, params default to {}. The tree is walked here,
 * not per reading: each leaf holds its fact's function, its operator's and its params.
 */
export function compileCheck(node: unknown): Check {
  if (typeof node !== 'object' || node === null) return UNDECIDED;
  const n = node as Node;
  const all = n['all'];
  if (Array.isArray(all)) return allOf(all.map(compileCheck));
  const any = n['any'];
  if (Array.isArray(any)) return any.length === 0 ? TRUE : anyOf(any.map(compileCheck));
  if ('not' in n) {
    const inner = compileCheck(n['not']);
    return (ctx) => {
      const v = inner(ctx);
      return v === undefined ? undefined : !v;
    };
  }
  return leaf(n);
}

function allOf(checks: readonly Check[]): Check {
  if (checks.length === 0) return TRUE;
  if (checks.length === 1) return checks[0]!;
  return (ctx) => {
    let unknown = false;
    for (let i = 0; i < checks.length; i++) {
      const v = checks[i]!(ctx);
      if (v === false) return false;
      if (v === undefined) unknown = true;
    }
    return unknown ? undefined : true;
  };
}

function anyOf(checks: readonly Check[]): Check {
  if (checks.length === 1) return checks[0]!;
  return (ctx) => {
    let unknown = false;
    for (let i = 0; i < checks.length; i++) {
      const v = checks[i]!(ctx);
      if (v === true) return true;
      if (v === undefined) unknown = true;
    }
    return unknown ? undefined : false;
  };
}

function leaf(n: Node): Check {
  const { fact, operator, value } = n;
  // Own names only: "toString" is no fact of ours.
  const spec = typeof fact === 'string' && Object.hasOwn(FACTS, fact) ? FACTS[fact] : undefined;
  const evaluate = typeof operator === 'string' ? operatorOf(operator) : undefined;
  if (!spec || !evaluate || n['path'] !== undefined) return UNDECIDED;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return UNDECIDED;
  // The engine's in/notIn use value.indexOf: on a string that is a substring test.
  if ((operator === 'in' || operator === 'notIn') && !Array.isArray(value)) return UNDECIDED;
  const compute = spec.compute;
  const params = (n['params'] ?? NO_PARAMS) as Record<string, unknown>;
  return (ctx) => {
    let factValue: unknown;
    try {
      factValue = compute(ctx, params);
    } catch {
      return undefined;
    }
    if (factValue instanceof Promise) return undefined;
    return evaluate(factValue, value);
  };
}

/** Judges conditions once (compiles them each call: for tests and one-off checks; the engine keeps compiled checks). */
export function precheck(node: unknown, ctx: FactContext): Verdict {
  return compileCheck(node)(ctx);
}
