import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { addFacts, type FactContext } from '../../../gateway/rules/facts.js';
import { Engine } from '../../../gateway/rules/jre.js';
import { addOperators } from '../../../gateway/rules/operators.js';
import { precheck } from '../../../gateway/rules/precheck.js';
import { SeriesStore } from '../../../gateway/rules/series.js';
import { ZoneState } from '../../../gateway/rules/state.js';
import { Watches } from '../../../gateway/rules/watches.js';

const reading = (value: ReadingEvent['value'], zone = 'z1'): ReadingEvent =>
  ({ id: 'r', type: 'sensor.temperature', source: `s/${zone}/d`, time: '', receivedAt: '', seq: undefined, site: 's', zone, device: 'd', kind: 'temperature', value, numeric: typeof value === 'number' ? value : 0, timeMs: 0, clientId: undefined });

const NOW = Date.parse('2026-11-24T10:00:00Z');
/** Window facts in normal form (as a pack's check leaves them), over what `context` records. */
const WINDOW_LEAVES = [
  { fact: 'window', params: { kind: 'temperature', scope: 'zone', withinMs: 60_000, agg: 'max' } },
  { fact: 'window', params: { kind: 'temperature', scope: 'site', withinMs: 600_000, agg: 'avg' } },
  { fact: 'count', params: { kind: 'temperature', scope: 'zone', withinMs: 60_000 } },
  { fact: 'rateOfChange', params: { kind: 'temperature', scope: 'device', withinMs: 600_000, perMs: 60_000, minSpanMs: 1000 } },
  { fact: 'anyInSite', params: { kind: 'temperature' } },
  { fact: 'latest', params: { kind: 'temperature', scope: 'site' } },
];

function context(r: ReadingEvent): FactContext {
  const state = new ZoneState();
  const series = new SeriesStore();
  series.configure([
    { kind: 'temperature', scope: 'zone', withinMs: 60_000, minmax: true },
    { kind: 'temperature', scope: 'site', withinMs: 600_000 },
    { kind: 'temperature', scope: 'device', withinMs: 600_000 },
  ]);
  // A little history in the reading's zone and another, so the window facts have something to say.
  for (const [i, v] of [18, 25, 21].entries()) {
    const earlier = { ...r, id: `e${i}`, zone: i === 1 ? 'z2' : r.zone, value: v, numeric: v, timeMs: NOW - 90_000 + i * 30_000 };
    state.update(earlier);
    series.record(earlier, earlier.timeMs);
  }
  const now = { ...r, timeMs: NOW };
  state.update(now);
  series.record(now, NOW);
  return { reading: now, now: NOW, state, series, watches: new Watches(() => undefined), actuator: () => undefined };
}

/** What json-rules-engine says of the same conditions and facts (undefined: the run fails). */
async function engineVerdict(conditions: object, ctx: FactContext): Promise<boolean | undefined> {
  const engine = new Engine([], { allowUndefinedFacts: true });
  addOperators(engine);
  addFacts(engine, () => ctx);
  engine.addRule({ name: 'r', conditions: conditions as never, event: { type: 'x' } });
  try {
    return (await engine.run()).results.length > 0;
  } catch {
    return undefined;
  }
}

describe('precheck', () => {
  it('is certain only of what it can judge exactly', () => {
    const ctx = context(reading(27));
    expect(precheck({ all: [{ fact: 'value', operator: 'greaterThan', value: 26 }, { fact: 'zone', operator: 'in', value: ['z1'] }] }, ctx)).toBe(true);
    expect(precheck({ all: [{ fact: 'value', operator: 'greaterThan', value: 28 }] }, ctx)).toBe(false);
    expect(precheck({ any: [{ fact: 'value', operator: 'equal', value: 1 }, { fact: 'armed', operator: 'equal', value: false }] }, ctx)).toBe(true);
    expect(precheck({ not: { fact: 'value', operator: 'lessThan', value: 20 } }, ctx)).toBe(true);
    expect(precheck({ all: [{ fact: 'value', operator: 'equal', value: { fact: 'zone' } }] }, ctx)).toBeUndefined();
    expect(precheck({ all: [{ fact: 'zone', operator: 'in', value: 'z1z2' }] }, ctx)).toBeUndefined();
    expect(precheck({ all: [{ fact: 'value', path: '$.x', operator: 'equal', value: 1 }] }, ctx)).toBeUndefined();
    // An undecided part keeps `all` undecided unless another part is false.
    expect(precheck({ all: [{ fact: 'value', operator: 'equal', value: { fact: 'zone' } }, { fact: 'value', operator: 'lessThan', value: 0 }] }, ctx)).toBe(false);
  });

  it('agrees with json-rules-engine whenever it is certain (fast-check, the engine as the judge)', async () => {
    const operators = ['equal', 'notEqual', 'in', 'notIn', 'contains', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'between', 'outside', 'isTrue'];
    const scalar = fc.oneof(fc.integer({ min: -5, max: 40 }), fc.double({ min: -5, max: 40, noNaN: true }), fc.boolean(), fc.constantFrom('ok', 'fail', '26', '', 'z1'));
    const operand = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.tuple(fc.integer({ min: -5, max: 40 }), fc.integer({ min: -5, max: 40 })));
    const leaf = fc.oneof(
      fc.record({ fact: fc.constantFrom('value', 'zone', 'armed', 'hour', 'latest'), operator: fc.constantFrom(...operators), value: operand }).map((c) =>
        c.fact === 'latest' ? { ...c, params: { kind: 'temperature' } } : c,
      ),
      fc.record({ window: fc.constantFrom(...WINDOW_LEAVES), operator: fc.constantFrom(...operators), value: operand }).map(({ window, ...c }) => ({ ...window, ...c })),
    );
    const tree = fc.letrec<{ node: object }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.record({ all: fc.array(tie('node'), { maxLength: 3 }) }),
        fc.record({ any: fc.array(tie('node'), { maxLength: 3 }) }),
        fc.record({ not: tie('node') }),
      ),
    })).node;
    const top = fc.oneof(fc.record({ all: fc.array(tree, { maxLength: 3 }) }), fc.record({ any: fc.array(tree, { maxLength: 3 }) }));
    await fc.assert(
      fc.asyncProperty(top, scalar, async (conditions, value) => {
        const ctx = context(reading(value));
        const certain = precheck(conditions, ctx);
        if (certain === undefined) return;
        // The engine may refuse a condition elsewhere in the tree (it evaluates siblings together
        // and e.g. notIn on a number throws): then the rule fails its run; it never fires.
        const verdict = await engineVerdict(conditions, ctx);
        if (verdict !== undefined) expect(verdict).toBe(certain);
      }),
      { numRuns: 3000 },
    );
  });
});
