import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../gateway/events.js';
import { guardOf } from '../../gateway/rules/guards.js';
import { Engine } from '../../gateway/rules/jre.js';
import { addOperators } from '../../gateway/rules/operators.js';

const reading = (value: ReadingEvent['value'], zone = 'z1'): ReadingEvent =>
  ({ id: 'r', type: 'sensor.temperature', source: `s/${zone}/d`, time: '', receivedAt: '', seq: undefined, site: 's', zone, device: 'd', kind: 'temperature', value, numeric: 0, timeMs: 0, clientId: undefined });

async function engineFires(conditions: object, r: ReadingEvent): Promise<boolean> {
  const engine = new Engine([], { allowUndefinedFacts: true });
  addOperators(engine);
  engine.addRule({ name: 'r', conditions: conditions as never, event: { type: 'x' } });
  const facts = { value: r.value, kind: r.kind, site: r.site, zone: r.zone, device: r.device, other: 1 };
  return (await engine.run(facts)).results.length > 0;
}

describe('rule guards', () => {
  it('keeps only the checks on the reading itself, and none for any/not or facts with params', () => {
    expect(guardOf({ conditions: { any: [{ fact: 'value', operator: 'equal', value: 1 }] } })).toBeUndefined();
    expect(guardOf({ conditions: { all: [{ fact: 'window', params: { within: '5m' }, operator: 'greaterThan', value: 1 }] } })).toBeUndefined();
    expect(guardOf({ conditions: { all: [{ fact: 'value', operator: 'equal', value: { fact: 'other' } }] } })).toBeUndefined();
    const g = guardOf({ conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }, { fact: 'zone', operator: 'in', value: ['z1'] }, { fact: 'armed', operator: 'equal', value: true }] } })!;
    expect(g(reading(27))).toBe(true);
    expect(g(reading(25))).toBe(false);
    expect(g(reading(27, 'z2'))).toBe(false);
  });

  it('never rules out a reading the engine would fire on (fast-check, the engine as the judge)', async () => {
    const operators = ['equal', 'notEqual', 'in', 'notIn', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'between', 'outside', 'isTrue'];
    const scalar = fc.oneof(fc.integer({ min: -5, max: 40 }), fc.double({ min: -5, max: 40, noNaN: true }), fc.boolean(), fc.constantFrom('ok', 'fail', '26', ''));
    const operand = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.tuple(fc.integer({ min: -5, max: 40 }), fc.integer({ min: -5, max: 40 })));
    const condition = fc.record({ fact: fc.constantFrom('value', 'zone'), operator: fc.constantFrom(...operators), value: operand });
    await fc.assert(
      fc.asyncProperty(fc.array(condition, { minLength: 1, maxLength: 3 }), scalar, async (all, value) => {
        const conditions = { all };
        const guard = guardOf({ conditions });
        const r = reading(value);
        let fires: boolean;
        try {
          fires = await engineFires(conditions, r);
        } catch {
          return; // the engine refuses the condition (e.g. `in` with a non-array): nothing to compare
        }
        if (fires) expect(guard === undefined || guard(r)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
