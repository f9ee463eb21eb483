import { describe, expect, it } from 'vitest';
import { Engine, fastClone, usesFastClone } from '../../../gateway/rules/jre.js';

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
