/** The "why" lines of a missing expectation in rules:test: the rules that explain it first. */
import { describe, expect, it } from 'vitest';
import type { Expectation } from '../../../gateway/lab/scenario.js';
import { describeWhy } from '../../../gateway/lab/why-format.js';
import type { WhyNot } from '../../../gateway/lab/why.js';

const fact = (name: string, factResult: unknown, operator: string, value: unknown, result: boolean) => ({ fact: name, params: {}, factResult, operator, value, result });
const rule = (name: string, o: Partial<WhyNot>): WhyNot => ({ rule: name, at: 20 * 60_000, reading: undefined, wanted: 'contact reading in hq/f1', join: 'all', conditions: [], held: false, ...o });

describe('describeWhy', () => {
  it('lists first a rule whose condition was false on a reading, then those with no reading, then those whose conditions held, within its three lines', () => {
    // An alert expected by severity alone: every warning rule of the pack could have sent it, in pack order.
    const why = [
      rule('intrusion-door', { wanted: 'contact reading in hq/f1' }),
      rule('intrusion-motion', { wanted: 'motion reading in hq/f1' }),
      rule('office-hours', { held: true, reading: { id: 'r1', source: 'hq/f1/sd1', at: 0 }, conditions: [{ group: undefined, facts: [fact('hour', 9, 'between', [8, 18], true)], result: true }] }),
      rule('keypad-failures', { wanted: 'keypad reading in hq/f1' }),
      rule('smoke-detector-silent', { reading: { id: 'r1', source: 'hq/f1/sd1', at: 0 }, conditions: [{ group: undefined, facts: [fact('absent', false, 'equal', true, false)], result: false }] }),
    ];
    const lines = describeWhy({ type: 'alert', target: 'hq/warning', at: 20 * 60_000 } as unknown as Expectation, why);
    expect(lines[0]).toMatch(/^smoke-detector-silent did not fire at 20m00s/);
    expect(lines.slice(1, 3).every((l) => / did not fire at 20m00s: no /.test(l))).toBe(true);
    expect(lines[3]).toBe('… and 2 more rules');
  });
});
