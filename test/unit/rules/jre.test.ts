import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine, fastClone, originalPrioritizeConditions, prioritizeConditions, quietUnheard, Rule, usesFastClone } from '../../../gateway/rules/jre.js';

describe('json-rules-engine with the faster clone', () => {
  it('copies deeply, keeps prototypes, and shares nothing with the original', () => {
    class Node {
      constructor(readonly children: Node[], readonly value: unknown) {}
    }
    const original = new Node([new Node([], { a: [1, { b: 'x' }] })], null);
    const copy = fastClone(original);
    expect(copy).toEqual(original);
    expect(copy).toBeInstanceOf(Node);
    expect(copy.children[0]).toBeInstanceOf(Node);
    expect(copy.children[0]).not.toBe(original.children[0]);
    ((copy.children[0]!.value as { a: unknown[] }).a[1] as { b: string }).b = 'changed';
    expect(((original.children[0]!.value as { a: unknown[] }).a[1] as { b: string }).b).toBe('x');
  });

  it('is the clone json-rules-engine loaded with', () => {
    expect(usesFastClone).toBe(true);
  });

  it('gives the same results: a run leaves the rule’s own conditions untouched, and results are per run', async () => {
    const engine = new Engine([], { allowUndefinedFacts: true });
    engine.addRule({ name: 'hot', conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] }, event: { type: 'hot' } });
    const hot = await engine.run({ value: 30 });
    const cool = await engine.run({ value: 20 });
    expect(hot.results.map((r) => r.name)).toEqual(['hot']);
    expect(cool.results).toEqual([]);
    expect(cool.failureResults[0]?.conditions).toMatchObject({ all: [{ fact: 'value', factResult: 20, result: false }] });
    expect(hot.results[0]?.conditions).toMatchObject({ all: [{ fact: 'value', factResult: 30, result: true }] });
  });
});

describe('conditions grouped by priority', () => {
  it('gives json-rules-engine’s own groups: same members, same order, highest priority first', () => {
    const factPriorities: Record<string, number | undefined> = { a: 1, b: 10, c: 2.5, d: undefined };
    const engine = { getFact: (id: string | undefined) => (id !== undefined && id in factPriorities ? { priority: factPriorities[id] } : undefined) };
    const condition = fc.record({ fact: fc.constantFrom('a', 'b', 'c', 'd', 'unknown'), priority: fc.option(fc.constantFrom(0, 1, 2, 2.5, 7, 100), { nil: undefined }) }, { requiredKeys: ['fact'] });
    fc.assert(
      fc.property(fc.array(condition, { minLength: 1, maxLength: 12 }), (conditions) => {
        const ours = prioritizeConditions.call({ engine }, conditions);
        const theirs = originalPrioritizeConditions.call({ engine }, conditions);
        expect(ours.length).toBe(theirs.length);
        ours.forEach((set, i) => {
          expect(set.length).toBe(theirs[i]!.length);
          set.forEach((c, j) => expect(c).toBe(theirs[i]![j]));
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('is the grouping json-rules-engine runs with', () => {
    expect((Rule.prototype as unknown as { prioritizeConditions: unknown }).prioritizeConditions).toBe(prioritizeConditions);
  });
});

describe('announcements nobody hears', () => {
  it('runs give the same results, and a listener added afterwards still hears its events', async () => {
    const engine = new Engine([], { allowUndefinedFacts: true });
    engine.addRule({ name: 'hot', conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] }, event: { type: 'too-hot' } });
    quietUnheard(engine);
    const quiet = await engine.run({ value: 30 });
    expect(quiet.results.map((r) => r.name)).toEqual(['hot']);
    const heard: string[] = [];
    engine.on('success', (e: { type: string }) => void heard.push(`engine success ${e.type}`));
    engine.on('too-hot', () => void heard.push('too-hot'));
    engine.on('failure', (e: { type: string }) => void heard.push(`engine failure ${e.type}`));
    (engine as unknown as { rules: { on(type: string, f: () => void): void }[] }).rules[0]!.on('success', () => void heard.push('rule success'));
    await engine.run({ value: 30 });
    await engine.run({ value: 20 });
    expect(heard).toEqual(['rule success', 'engine success too-hot', 'too-hot', 'engine failure too-hot']);
  });
});
