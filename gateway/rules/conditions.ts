import { isKind, type Kind } from '../core/kinds.js';
import { walkConditions } from './condition-walk.js';
import { ParamReader, type Params } from './fact-params.js';
import { FACTS, FACT_NAMES } from './facts.js';
import { operatorValueHint } from './fact-literals.js';
import { literalProblems } from './literal-types.js';
import { OPERATOR_NAMES, checkOperatorValue } from './operators.js';
import type { WindowNeed } from './series.js';
import type { WatchSpec } from './watches.js';

type Node = Record<string, unknown>;

/** The kinds a rule tests with `{"fact":"kind","operator":"equal","value":…}` anywhere in its conditions. */
export function kindsTested(node: unknown, kinds = new Set<Kind>()): Set<Kind> {
  walkConditions(node, '', (n) => {
    if (n['fact'] === 'kind' && n['operator'] === 'equal' && typeof n['value'] === 'string' && isKind(n['value'])) kinds.add(n['value']);
  });
  return kinds;
}

/** The facts a condition tree reads: its leaves' facts, and a fact a leaf compares with (`"value": {"fact": …}`). */
export function factsRead(node: unknown, facts = new Set<string>()): Set<string> {
  walkConditions(node, '', (n) => {
    if (typeof n['fact'] === 'string') facts.add(n['fact']);
    const value = n['value'];
    if (typeof value === 'object' && value !== null && typeof (value as Node)['fact'] === 'string') facts.add((value as Node)['fact'] as string);
  });
  return facts;
}

const withParams = (n: Node, params: Params): Node => (Object.keys(params).length > 0 ? { ...n, params } : n);

export interface CheckedConditions {
  /** The conditions with every fact's params in normal form (what the engine runs). */
  readonly conditions: Node;
  readonly watches: readonly WatchSpec[];
  readonly windows: readonly WindowNeed[];
}

/**
 * Checks a rule's condition tree: facts, operators, operator values, fact params. Each
 * problem names where it is (`….conditions.all[1].params.for: …`).
 */
export function checkConditions(node: unknown, where: string, ruleKinds: readonly Kind[], problems: string[]): CheckedConditions {
  const watches: WatchSpec[] = [];
  const windows: WindowNeed[] = [];
  const walk = (n: unknown, at: string): Node => {
    if (typeof n !== 'object' || n === null || Array.isArray(n)) {
      problems.push(`${at}: must be a condition object`);
      return {};
    }
    const c = n as Node;
    for (const group of ['all', 'any'] as const) {
      if (group in c) {
        const list = c[group];
        if (!Array.isArray(list)) {
          problems.push(`${at}.${group}: must be an array of conditions`);
          return c;
        }
        return { ...c, [group]: list.map((child, i) => walk(child, `${at}.${group}[${i}]`)) };
      }
    }
    if ('not' in c) return { ...c, not: walk(c['not'], `${at}.not`) };
    if ('condition' in c) {
      problems.push(`${at}: shared conditions ("condition") are not supported; write the condition out`);
      return c;
    }
    return checkFact(c, at);
  };
  const checkFact = (c: Node, at: string): Node => {
    const { fact, operator } = c;
    if (typeof fact !== 'string') problems.push(`${at}: needs "fact" (one of ${FACT_NAMES.join(', ')}) or all/any/not`);
    else if (!FACT_NAMES.includes(fact)) problems.push(`${at}: unknown fact ${JSON.stringify(fact)} (known: ${FACT_NAMES.join(', ')})`);
    if (typeof operator !== 'string') problems.push(`${at}: needs "operator"`);
    else if (!OPERATOR_NAMES.includes(operator)) problems.push(`${at}: unknown operator ${JSON.stringify(operator)} (known: ${OPERATOR_NAMES.join(', ')})`);
    else if ('value' in c) {
      const problem = checkOperatorValue(operator, c['value']);
      if (problem) problems.push(`${at}.value: ${problem}${operatorValueHint(fact, operator, c['value'])}`);
    }
    if (!('value' in c)) problems.push(`${at}: needs "value"`);
    // The kinds whose reading value the fact gives: a literal that can be none of them never matches.
    const valueKinds = fact === 'value' ? ruleKinds : fact === 'latest' && typeof (c['params'] as Node | undefined)?.['kind'] === 'string' ? [(c['params'] as Node)['kind'] as Kind] : [];
    if (typeof operator === 'string' && 'value' in c) for (const p of literalProblems(operator, c['value'], valueKinds)) problems.push(`${at}${p.at}: ${p.message}`);
    if (fact === 'kind' && operator === 'equal' && typeof c['value'] === 'string' && !isKind(c['value'])) problems.push(`${at}.value: unknown kind ${JSON.stringify(c['value'])}`);
    const value = c['value'];
    let checked = c;
    // A fact compared with another fact's value (`"value": {"fact": …}`): that one is checked and normalised too.
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'fact' in value) {
      const other = value as Node;
      if (typeof other['fact'] !== 'string' || !FACT_NAMES.includes(other['fact'])) problems.push(`${at}.value.fact: unknown fact ${JSON.stringify(other['fact'])} (known: ${FACT_NAMES.join(', ')})`);
      else {
        const normal = normalParams(other['fact'], other['params'], `${at}.value`);
        if (normal) checked = { ...c, value: withParams(other, normal) };
      }
    }
    if (typeof fact !== 'string' || !FACTS[fact]) return checked;
    const normal = normalParams(fact, c['params'], at);
    return normal ? withParams(checked, normal) : checked;
  };
  /** A fact's params checked and in normal form (undefined: problems, said); its watch or window noted. */
  const normalParams = (fact: string, given: unknown, at: string): Params | undefined => {
    const spec = FACTS[fact]!;
    if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
      problems.push(`${at}.params: must be an object`);
      return undefined;
    }
    const before = problems.length;
    const reader = new ParamReader((given ?? {}) as Params, ruleKinds, (param, message) => problems.push(`${at}.params.${param}: ${message}`), spec.params ?? []);
    spec.check?.(reader);
    if (problems.length > before) return undefined;
    const normal = reader.out;
    if (spec.watch) watches.push(spec.watch(normal));
    if (spec.window) windows.push(spec.window(normal));
    return normal;
  };
  const conditions = walk(node, where);
  return { conditions, watches, windows };
}
