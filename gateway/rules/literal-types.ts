import { isKind, kindSpec, type Kind } from '../core/kinds.js';
import { fitsKind } from './fact-params.js';

/** Operators that compare numbers: on a boolean or "ok"/"fail" value they never hold. */
const NUMBER_OPERATORS = new Set(['lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'between', 'outside']);
/** Operators that compare with the literal(s) as they are: a literal of another type never equals the value. */
const NEVER: Readonly<Record<string, string>> = { equal: 'never holds', in: 'never holds', notEqual: 'always holds', notIn: 'always holds' };

/** A kind's value type in words: "a number", "a boolean", `one of "ok", "fail"`. */
function typeOf(kind: Kind): string {
  const schema = (kindSpec(kind)?.valueSchema ?? {}) as { type?: string; enum?: readonly string[] };
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  return schema.type === 'boolean' ? 'a boolean' : 'a number';
}

function byType(kinds: readonly Kind[]): Map<string, Kind[]> {
  const groups = new Map<string, Kind[]>();
  for (const k of kinds) {
    const type = typeOf(k);
    groups.set(type, [...(groups.get(type) ?? []), k]);
  }
  return groups;
}

const owners = (kinds: readonly Kind[]): string => `${kinds.join('’s and ')}’s value`;

/** What a literal must be for these kinds: `a boolean, the type of contact’s value`. */
function expected(kinds: readonly Kind[]): string {
  return [...byType(kinds)].map(([type, ks]) => (type.startsWith('one of') ? `${type}, the values of ${ks.join(' and ')}` : `${type}, the type of ${owners(ks)}`)).join(' or ');
}

export interface LiteralProblem {
  /** Where, after the condition: `.value`, `.value[1]`, `.operator`. */
  readonly at: string;
  readonly message: string;
}

/**
 * A condition comparing a reading value of `kinds` with a literal that can never be such a value
 * (`"true"` for a contact, whose value is a boolean; `greaterThan` on motion): it never holds, or
 * with notEqual/notIn always. Nothing is said when the kinds are not known (every kind).
 */
export function literalProblems(operator: string, value: unknown, kinds: readonly Kind[]): LiteralProblem[] {
  if (kinds.length === 0 || !kinds.every(isKind)) return [];
  // Another fact's value (`"value": {"fact": …}`) is compared at run time.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return [];
  if (NUMBER_OPERATORS.has(operator)) {
    if (kinds.some((k) => typeOf(k) === 'a number')) return [];
    const what = [...byType(kinds)].map(([type, ks]) => `${owners(ks)} is ${type}`).join('; ');
    return [{ at: '.operator', message: `${operator} compares numbers, but ${what}: the condition never holds` }];
  }
  // Own keys only: an operator named like an Object method ("constructor") is not one of these.
  const outcome = Object.hasOwn(NEVER, operator) ? NEVER[operator] : undefined;
  if (outcome === undefined) return [];
  const fits = (v: unknown): boolean => kinds.some((k) => fitsKind(k, v));
  const wrong = (v: unknown, at: string, then: string): LiteralProblem => ({ at, message: `must be ${expected(kinds)} (got ${JSON.stringify(v)}): as it is, ${then}` });
  if (operator === 'equal' || operator === 'notEqual') return fits(value) ? [] : [wrong(value, '.value', `the condition ${outcome}`)];
  // in/notIn on a string is a substring test (the engine's indexOf): not this check's business.
  if (!Array.isArray(value)) return [];
  return value.flatMap((v, i) => (fits(v) ? [] : [wrong(v, `.value[${i}]`, 'that entry never matches')]));
}
