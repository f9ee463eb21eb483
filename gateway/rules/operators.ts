import type { Engine } from './jre.js';

export type Evaluate = (fact: unknown, value: unknown) => boolean;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isRange = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && isNumber(v[0]) && isNumber(v[1]);
/** json-rules-engine's number check (`parseFloat(v).toString() !== 'NaN'`): for a number that is "not NaN", without its two strings. */
const numeric = (v: unknown): boolean => (typeof v === 'number' ? !Number.isNaN(v) : Number.parseFloat(String(v)).toString() !== 'NaN');
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
const isTimeRange = (v: unknown): v is [string, string] => Array.isArray(v) && v.length === 2 && v.every((t) => typeof t === 'string' && TIME.test(t));

/**
 * json-rules-engine's own operators, with its semantics (number operators refuse non-numbers),
 * for the places that compare outside an engine run (the `heldFor` fact's condition).
 */
const BUILT_IN: Readonly<Record<string, Evaluate>> = {
  equal: (a, b) => a === b,
  notEqual: (a, b) => a !== b,
  in: (a, b) => Array.isArray(b) && b.includes(a),
  notIn: (a, b) => Array.isArray(b) && !b.includes(a),
  contains: (a, b) => Array.isArray(a) && a.includes(b),
  doesNotContain: (a, b) => Array.isArray(a) && !a.includes(b),
  lessThan: (a, b) => numeric(a) && (a as number) < (b as number),
  lessThanInclusive: (a, b) => numeric(a) && (a as number) <= (b as number),
  greaterThan: (a, b) => numeric(a) && (a as number) > (b as number),
  greaterThanInclusive: (a, b) => numeric(a) && (a as number) >= (b as number),
};

/** The gateway's operators, documented in rules/README.md. */
export const CUSTOM_OPERATORS: Readonly<Record<string, { description: string; example: string; evaluate: Evaluate; checkValue?: (value: unknown) => string | undefined }>> = {
  between: {
    description: 'a number within [low, high], bounds included',
    example: '{"fact":"value","operator":"between","value":[19,24]}',
    evaluate: (fact, value) => isNumber(fact) && isRange(value) && fact >= value[0] && fact <= value[1],
    checkValue: (value) => (isRange(value) && value[0] <= value[1] ? undefined : 'must be [low, high] with low ≤ high'),
  },
  outside: {
    description: 'a number below low or above high',
    example: '{"fact":"value","operator":"outside","value":[18,26]}',
    evaluate: (fact, value) => isNumber(fact) && isRange(value) && (fact < value[0] || fact > value[1]),
    checkValue: (value) => (isRange(value) && value[0] <= value[1] ? undefined : 'must be [low, high] with low ≤ high'),
  },
  isTrue: {
    description: 'true, 1 or "ok" when value is true; false, 0 or "fail" when value is false',
    example: '{"fact":"value","operator":"isTrue","value":true}',
    evaluate: (fact, value) => truthy(fact) === (value !== false),
  },
  timeBetween: {
    description: 'a time of day "HH:MM" within ["from", "until"): from included, until excluded; wraps past midnight when from > until',
    example: '{"fact":"timeOfDay","operator":"timeBetween","value":["22:00","06:00"]}',
    evaluate: (fact, value) => {
      if (typeof fact !== 'string' || !isTimeRange(value)) return false;
      const [from, until] = value;
      return from <= until ? fact >= from && fact < until : fact >= from || fact < until;
    },
    checkValue: (value) => (isTimeRange(value) ? undefined : 'must be ["HH:MM", "HH:MM"] (24-hour clock)'),
  },
};

export function truthy(v: unknown): boolean | undefined {
  if (v === true || v === 1 || v === 'ok') return true;
  if (v === false || v === 0 || v === 'fail') return false;
  return undefined;
}

export const OPERATOR_NAMES: readonly string[] = [...Object.keys(BUILT_IN), ...Object.keys(CUSTOM_OPERATORS)];

/** An operator's function (looked up once, when conditions are compiled); undefined when unknown. */
export function operatorOf(name: string): Evaluate | undefined {
  return Object.hasOwn(BUILT_IN, name) ? BUILT_IN[name] : Object.hasOwn(CUSTOM_OPERATORS, name) ? CUSTOM_OPERATORS[name]!.evaluate : undefined;
}

/** A problem with an operator's value (e.g. `between` needs [low, high]), or undefined. */
export function checkOperatorValue(name: string, value: unknown): string | undefined {
  return CUSTOM_OPERATORS[name]?.checkValue?.(value);
}

export function addOperators(engine: Engine): void {
  for (const [name, op] of Object.entries(CUSTOM_OPERATORS)) engine.addOperator(name, op.evaluate);
}
