import { kindSpec, type Kind, type ReadingValue } from '../core/kinds.js';
import type { FactContext, FactSpec } from './facts.js';
import type { Params } from './fact-params.js';
import { OPERATOR_NAMES, checkOperatorValue } from './operators.js';
import { literalProblems } from './literal-types.js';
import { scopeKey, type Scope, type WindowNeed } from './series.js';

/**
 * Facts over time: sliding windows, rate of change, "held for", absence and hysteresis. They
 * read the rules clock (`ctx.now`), never the wall clock, so tests and replays drive them.
 * Each takes `kind` (default: the rule's kind, when it reads one) and `scope`.
 */

const TIME = 10;
const AGGREGATES = ['avg', 'min', 'max', 'count', 'sum'] as const;

const kind = (p: Params) => p['kind'] as Kind;
const scope = (p: Params) => p['scope'] as Scope;
const ms = (p: Params, name: string) => p[`${name}Ms`] as number;
const keyOf = (ctx: FactContext, p: Params) => scopeKey(ctx.reading, scope(p));

/** What a window fact reads: min/max keep a deque, `count` with `equals` a tally (absent when not needed). */
const windowNeed = (p: Params): WindowNeed => ({
  kind: kind(p),
  scope: scope(p),
  withinMs: ms(p, 'within'),
  ...(p['agg'] === 'min' || p['agg'] === 'max' ? { minmax: true } : {}),
  ...(typeof p['equalsNumeric'] === 'number' ? { equals: p['equalsNumeric'] } : {}),
});

export const TIME_FACTS: Record<string, FactSpec> = {
  window: {
    description:
      'an aggregate of the readings of the last `within`: `agg` "avg", "min", "max", "count" or "sum" (booleans count as 1/0); `scope` "zone" (default), "device" or "site". No reading in the window: undefined for avg/min/max (the condition is false), 0 for count/sum',
    example: '{"fact":"window","params":{"kind":"co2","agg":"avg","within":"10m"},"operator":"greaterThan","value":1000}',
    priority: TIME,
    params: ['kind', 'scope', 'within', 'agg'],
    check: (p) => {
      p.kind(false);
      p.scope('zone');
      p.duration('within', true);
      p.oneOf('agg', AGGREGATES);
    },
    window: windowNeed,
    compute: (ctx, p) => {
      const within = ms(p, 'within');
      return ctx.series.aggregate(kind(p), scope(p), keyOf(ctx, p), within, ctx.now - within, p['agg']);
    },
  },
  count: {
    description: 'how many readings of the last `within` there were, only those equal to `equals` when given ("fail", true); `scope` "zone" (default), "device" or "site"',
    example: '{"fact":"count","params":{"kind":"keypad","equals":"fail","within":"1m"},"operator":"greaterThanInclusive","value":3}',
    priority: TIME,
    params: ['kind', 'scope', 'within', 'equals'],
    check: (p) => {
      const k = p.kind(false);
      p.scope('zone');
      p.duration('within', true);
      const equals = p.readingValue('equals', k);
      if (equals !== undefined) p.out['equalsNumeric'] = (kindSpec(k)?.toNumber ?? Number)(equals);
    },
    window: windowNeed,
    compute: (ctx, p) => {
      const within = ms(p, 'within');
      return ctx.series.count(kind(p), scope(p), keyOf(ctx, p), within, ctx.now - within, p['equalsNumeric']);
    },
  },
  rateOfChange: {
    description:
      'how fast the value changed over the last `within`, per `per` (default "1m"): (newest − oldest) ÷ time between them; `scope` "device" (default: mixing sensors makes no rate) or "zone". Undefined (the condition is false) until the readings span `minSpan` (default half of `within`), so two readings a second apart do not make a huge rate',
    example: '{"fact":"rateOfChange","params":{"kind":"temperature","within":"5m","per":"1m"},"operator":"greaterThan","value":2}',
    priority: TIME,
    params: ['kind', 'scope', 'within', 'per', 'minSpan'],
    check: (p) => {
      p.kind(false);
      p.scope('device');
      const within = p.duration('within', true);
      p.duration('per', false, 60_000);
      if (p.duration('minSpan', false, within / 2) > within) p.problemAt('minSpan', 'must not be longer than within');
    },
    window: windowNeed,
    compute: (ctx, p) => {
      const within = ms(p, 'within');
      return ctx.series.rate(kind(p), scope(p), keyOf(ctx, p), within, ctx.now - within, ms(p, 'per'), ms(p, 'minSpan'));
    },
  },
  heldFor: {
    description:
      'true when the condition `operator` `value` has held for every reading of the last `for`, without a break (e.g. above 26 °C for 5 minutes); `scope` "zone" (default), "device" or "site". Fires when the time is up, even if no reading comes then',
    example: '{"fact":"heldFor","params":{"kind":"temperature","operator":"greaterThan","value":26,"for":"5m"},"operator":"equal","value":true}',
    priority: TIME,
    params: ['kind', 'scope', 'operator', 'value', 'for'],
    check: (p) => {
      const k = p.kind(false);
      const s = p.scope('zone');
      const forMs = p.duration('for', true);
      const operator = p.oneOf('operator', OPERATOR_NAMES);
      if (!p.has('value')) p.problemAt('value', 'required: what the reading is compared with');
      const value = p.out['value'];
      const problem = checkOperatorValue(operator, value);
      if (problem) p.problemAt('value', problem);
      else if (k) for (const lp of literalProblems(operator, value, [k])) p.problemAt(lp.at === '.operator' ? 'operator' : `value${lp.at.slice('.value'.length)}`, lp.message);
      p.out['watch'] = `held|${k}|${s}|${operator}|${JSON.stringify(value)}|${forMs}`;
    },
    watch: (p) => ({ type: 'held', id: p['watch'] as string, kind: kind(p), scope: scope(p), operator: p['operator'] as string, value: p['value'], forMs: ms(p, 'for') }),
    compute: (ctx, p) => ctx.watches.held(p['watch'] as string, keyOf(ctx, p), ctx.now),
  },
  absent: {
    description:
      'true when no reading of `kind` (only those equal to `equals`, when given) came for `for`: a silent sensor, or no motion for 10 minutes; `scope` "zone" (default), "device" or "site". Fires when the time is up, with no new reading. With scope "device", a device that said offline is away, not absent, until it speaks again',
    example: '{"fact":"absent","params":{"kind":"motion","equals":true,"for":"10m"},"operator":"equal","value":true}',
    priority: TIME,
    params: ['kind', 'scope', 'equals', 'for'],
    check: (p) => {
      const k = p.kind(false);
      const s = p.scope('zone');
      const forMs = p.duration('for', true);
      const equals = p.readingValue('equals', k);
      p.out['watch'] = `absent|${k}|${s}|${JSON.stringify(equals ?? null)}|${forMs}`;
    },
    watch: (p) => ({ type: 'absent', id: p['watch'] as string, kind: kind(p), scope: scope(p), equals: p['equals'] as ReadingValue | undefined, forMs: ms(p, 'for') }),
    compute: (ctx, p) => ctx.watches.absent(p['watch'] as string, keyOf(ctx, p), ctx.now),
  },
  hysteresis: {
    description:
      'a band with two thresholds (a Schmitt trigger): with `onAbove` and `offBelow`, true once a reading goes above onAbove and until one goes below offBelow; with `onBelow` and `offAbove`, the other way round. In between it keeps its state, so the rule does not flap. `scope` "zone" (default), "device" or "site"',
    example: '{"fact":"hysteresis","params":{"kind":"illuminance","onAbove":500,"offBelow":300},"operator":"equal","value":true}',
    priority: TIME,
    params: ['kind', 'scope', 'onAbove', 'offBelow', 'onBelow', 'offAbove'],
    check: (p) => {
      const k = p.kind(false);
      const s = p.scope('zone');
      const rising = p.has('onAbove') || p.has('offBelow');
      const falling = p.has('onBelow') || p.has('offAbove');
      if (rising === falling) {
        p.problemAt(rising ? 'onBelow' : 'onAbove', 'give either onAbove and offBelow, or onBelow and offAbove');
        return;
      }
      const on = p.number(rising ? 'onAbove' : 'onBelow', true);
      const off = p.number(rising ? 'offBelow' : 'offAbove', true);
      if (on === undefined || off === undefined) return;
      if (rising ? off > on : off < on) p.problemAt(rising ? 'offBelow' : 'offAbove', rising ? 'must not be above onAbove' : 'must not be below onBelow');
      p.out['watch'] = `hyst|${k}|${s}|${rising ? 'up' : 'down'}|${on}|${off}`;
      p.out['rising'] = rising;
      p.out['on'] = on;
      p.out['off'] = off;
    },
    watch: (p) => ({ type: 'hysteresis', id: p['watch'] as string, kind: kind(p), scope: scope(p), rising: p['rising'] === true, on: p['on'] as number, off: p['off'] as number }),
    compute: (ctx, p) => ctx.watches.hysteresis(p['watch'] as string, keyOf(ctx, p)),
  },
};
