import { walkConditions } from './condition-walk.js';
import { SEGMENT_HINT, isSegment } from '../core/segments.js';
import type { LiteralProblem } from './literal-types.js';
import type { RulePack } from './pack.js';

/**
 * Literals the facts of the reading's topic and of the clock can never be: `weekday` in
 * ["Sat","Sun"] (it is a number), `zone` "hq/f2" (a zone is one topic segment), `hour` with
 * `timeBetween` (a number against "HH:MM"). Such a condition never holds, or with notEqual/notIn
 * always. Said as a warning with what to write instead (`deadFactLiterals`), not refused: such a
 * condition never did anything, and refusing it would take the rest of its pack (a smoke rule) out
 * of force at the first start of a gateway that used to load it.
 */

const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const NUMBER_OPERATORS = new Set(['lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive']);
const OUTCOME: Readonly<Record<string, string>> = { equal: 'the condition never holds', notEqual: 'the condition always holds', in: 'that entry never matches', notIn: 'that entry never matches' };
const TOPIC_FACTS = ['site', 'zone', 'device'] as const;

const wholeIn = (v: unknown, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const dayNumber = (v: unknown): number | undefined => {
  const name = typeof v === 'string' ? v.trim().toLowerCase() : '';
  const i = name.length >= 2 ? DAYS.findIndex((d) => d.startsWith(name)) : -1;
  return i >= 0 ? i : undefined;
};
const fixHour = (v: unknown): string => (typeof v === 'string' && HHMM.test(v) ? `: write ${Number(v.slice(0, 2))}, or compare timeOfDay` : typeof v === 'string' && wholeIn(Number(v), 23) && v.trim() !== '' ? `: write ${Number(v)}` : '');
const an = (fact: string): string => (fact === 'site' ? 'a site' : `a ${fact}`);

/** Why a literal cannot be what `fact` gives (with how to write it), or undefined when it can. */
function wrong(fact: string, v: unknown): string | undefined {
  if (fact === 'hour') return wholeIn(v, 23) ? undefined : `hour is a whole number 0–23, gateway local time (got ${JSON.stringify(v)}${fixHour(v)})`;
  if (fact === 'weekday') {
    if (wholeIn(v, 6)) return undefined;
    const day = dayNumber(v);
    return `weekday is a number, 0 = Sunday … 6 = Saturday (got ${JSON.stringify(v)}${day !== undefined ? `: write ${day}` : ''})`;
  }
  if (fact === 'timeOfDay') return typeof v === 'string' && HHMM.test(v) ? undefined : `timeOfDay is "HH:MM", 24-hour clock (got ${JSON.stringify(v)}${typeof v === 'string' && HHMM.test(`0${v}`) ? `: write "0${v}"` : ''})`;
  if (!(TOPIC_FACTS as readonly string[]).includes(fact)) return undefined;
  if (typeof v !== 'string') return `${an(fact)} is a string, one topic segment (got ${JSON.stringify(v)})`;
  if (isSegment(v)) return undefined;
  return v.includes('/') ? `${an(fact)} is one topic segment, without "/" (got ${JSON.stringify(v)})` : `${an(fact)} is one topic segment, ${SEGMENT_HINT} (got ${JSON.stringify(v)})`;
}

/** For "hq/f2" (or "hq/f2/t1"): the conditions on site, zone (and device) it meant. */
function splitTopic(fact: string, v: unknown): string {
  if (typeof v !== 'string') return '';
  const parts = v.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every(isSegment)) return '';
  const facts = parts.length === 3 ? TOPIC_FACTS : fact === 'device' ? TOPIC_FACTS.slice(1) : TOPIC_FACTS.slice(0, 2);
  const conditions = parts.map((p, i) => JSON.stringify({ fact: facts[i], operator: 'equal', value: p }));
  const named = facts.length === 3 ? `${facts[0]}, ${facts[1]} and ${facts[2]}` : facts.join(' and ');
  return `; ${named} are separate facts: write ${conditions.join(' and ')}`;
}

/** What `timeBetween` over timeOfDay looks like with these bounds. */
const timeOfDay = (value: unknown): string => JSON.stringify({ fact: 'timeOfDay', operator: 'timeBetween', value });

/** Problems of a condition `{fact, operator, value}` whose fact is the reading's topic or the clock. */
function factLiteralProblems(fact: unknown, operator: string, value: unknown): LiteralProblem[] {
  if (typeof fact !== 'string') return [];
  // Another fact's value (`"value": {"fact": …}`) is compared at run time.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return [];
  if (operator === 'timeBetween' && fact !== 'timeOfDay' && (fact === 'hour' || fact === 'weekday' || (TOPIC_FACTS as readonly string[]).includes(fact))) {
    const bounds = Array.isArray(value) && value.every((t) => typeof t === 'string' && HHMM.test(t)) ? value : ['19:00', '07:00'];
    return [{ at: '.fact', message: `timeBetween compares a time of day "HH:MM", but ${fact} is ${fact === 'hour' ? 'a number, 0–23' : fact === 'weekday' ? 'a number, 0 = Sunday … 6 = Saturday' : 'a topic segment'}: the condition never holds; for a time window (it may run past midnight) write ${timeOfDay(bounds)}` }];
  }
  if (NUMBER_OPERATORS.has(operator) && (fact === 'hour' || fact === 'weekday')) {
    // The engine compares with JavaScript's < and >: "7" holds against hour 8 as 7 does.
    const numeric = typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)));
    const why = numeric ? undefined : wrong(fact, value);
    return why ? [{ at: '.value', message: `${why}: the condition never holds` }] : [];
  }
  const outcome = Object.hasOwn(OUTCOME, operator) ? OUTCOME[operator] : undefined;
  if (outcome === undefined) return [];
  const problem = (v: unknown, at: string, then: string): LiteralProblem[] => {
    const why = wrong(fact, v);
    return why ? [{ at, message: `${why}: ${then}${operator === 'equal' || operator === 'in' ? splitTopic(fact, v) : ''}` }] : [];
  };
  if (operator === 'equal' || operator === 'notEqual') return problem(value, '.value', outcome);
  // in/notIn on a string is a substring test (the engine's indexOf): not this check's business.
  return Array.isArray(value) ? value.flatMap((v, i) => problem(v, `.value[${i}]`, outcome)) : [];
}

/** More to say when an operator's value is refused: `hour` between [19, 7] is a window past midnight. */
export function operatorValueHint(fact: unknown, operator: string, value: unknown): string {
  if (fact !== 'hour' || operator !== 'between' || !Array.isArray(value) || !value.every((h) => wholeIn(h, 23)) || value.length !== 2) return '';
  const [from, until] = value as [number, number];
  if (from <= until) return '';
  const hhmm = (h: number) => `${String(h).padStart(2, '0')}:00`;
  // between includes its high bound: hour 7 is 07:00–07:59, so the window ends at 08:00.
  return `; for hours past midnight write ${timeOfDay([hhmm(from), hhmm((until + 1) % 24)])} (between includes hour ${until}, so until ${hhmm((until + 1) % 24)}; "${hhmm(until)}" to stop at ${until})`;
}

type Leaf = { at: string; fact: unknown; operator: string; value: unknown; negated: boolean };

/** Each condition of a tree with a fact, an operator and a value: where it is, and whether a `not` (an odd number of them) turns it round. */
function leaves(node: unknown, at: string): Leaf[] {
  const out: Leaf[] = [];
  walkConditions(node, at, (n, where, negated) => {
    if (typeof n['operator'] === 'string' && 'value' in n) out.push({ at: where, fact: n['fact'], operator: n['operator'], value: n['value'], negated });
  });
  return out;
}

/** Under a `not`, a condition that never holds makes one that always does (and the other way round). */
const turned = (message: string): string => message.replace(/the condition (never|always) holds/, (_m, w: string) => `the condition ${w === 'never' ? 'always' : 'never'} holds (under "not")`);

/** The conditions on the topic's or the clock's facts that never hold (or always do), one line each, prefixed by the file. */
export function deadFactLiterals(packs: readonly RulePack[]): string[] {
  return packs.flatMap((p) =>
    p.rules.flatMap((r, i) => {
      const where = `rules[${i}] (${r.name})`;
      const found = [...leaves(r.conditions, `${where}.conditions`), ...leaves(r.alarm?.clearWhen, `${where}.event.params.clearWhen`)];
      return found.flatMap((c) => factLiteralProblems(c.fact, c.operator, c.value).map((problem) => `${p.file}: ${c.at}${problem.at}: ${c.negated ? turned(problem.message) : problem.message}`));
    }),
  );
}
