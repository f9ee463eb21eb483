import type { Engine } from 'json-rules-engine';

/** json-rules-engine's own operators. */
const BUILT_IN = ['equal', 'notEqual', 'in', 'notIn', 'contains', 'doesNotContain', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive'];

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isRange = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && isNumber(v[0]) && isNumber(v[1]);

/** The gateway's operators, documented in rules/README.md. */
export const CUSTOM_OPERATORS: Readonly<Record<string, { description: string; evaluate: (fact: unknown, value: unknown) => boolean }>> = {
  between: {
    description: 'fact is a number within [low, high], bounds included: `"value": [19, 24]`',
    evaluate: (fact, value) => isNumber(fact) && isRange(value) && fact >= value[0] && fact <= value[1],
  },
  outside: {
    description: 'fact is a number below low or above high: `"value": [18, 26]`',
    evaluate: (fact, value) => isNumber(fact) && isRange(value) && (fact < value[0] || fact > value[1]),
  },
  isTrue: {
    description: 'fact is true, 1 or "ok" when value is true; false, 0 or "fail" when value is false',
    evaluate: (fact, value) => truthy(fact) === (value !== false),
  },
};

export function truthy(v: unknown): boolean | undefined {
  if (v === true || v === 1 || v === 'ok') return true;
  if (v === false || v === 0 || v === 'fail') return false;
  return undefined;
}

export const OPERATOR_NAMES: readonly string[] = [...BUILT_IN, ...Object.keys(CUSTOM_OPERATORS)];

export function addOperators(engine: Engine): void {
  for (const [name, op] of Object.entries(CUSTOM_OPERATORS)) engine.addOperator(name, op.evaluate);
}
