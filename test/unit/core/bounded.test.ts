import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../gateway/core/backoff.js';
import { BoundedMap } from '../../../gateway/core/bounded-map.js';

describe('BoundedMap', () => {
  it('forgets the oldest entry past its capacity, and counts what it forgot', () => {
    const m = new BoundedMap<string, number>(3);
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) m.set(k, i);
    expect([...m.keys()]).toEqual(['c', 'd', 'e']);
    expect(m.evicted).toBe(2);
    // Replacing a key that is there forgets nothing.
    m.set('c', 9);
    expect([...m.entries()]).toEqual([['c', 9], ['d', 3], ['e', 4]]);
  });

  it('tells its owner of each entry it forgets, with its value, and of nothing else', () => {
    const forgotten: [string, number][] = [];
    const m = new BoundedMap<string, number>(2, (k, v) => void forgotten.push([k, v]));
    m.set('a', 1).set('b', 2).set('b', 3);
    m.delete('a');
    m.set('c', 4).set('d', 5).touch('c', 6);
    m.set('e', 7);
    expect(forgotten).toEqual([['b', 3], ['d', 5]]);
  });

  it('keeps what was touched most recently', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2);
    m.touch('a', 1);
    m.set('c', 3);
    expect([...m.keys()]).toEqual(['a', 'c']);
  });

  it('forgets exactly what a Map trimmed from its oldest entry would, whatever the mix of set, touch, delete and clear', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ op: fc.constant('touch' as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ op: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ op: fc.constant('clear' as const), key: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const m = new BoundedMap<number, number>(capacity);
        const model = new Map<number, number>();
        let evicted = 0;
        for (const [i, { op, key }] of ops.entries()) {
          if (op === 'clear') {
            m.clear();
            model.clear();
            continue;
          }
          if (op === 'delete') {
            m.delete(key);
            model.delete(key);
            continue;
          }
          if (op === 'touch') {
            m.touch(key, i);
            model.delete(key);
          } else m.set(key, i);
          if (!model.has(key) && model.size >= capacity) {
            model.delete(model.keys().next().value!);
            evicted++;
          }
          model.set(key, i);
        }
        expect([...m.entries()]).toEqual([...model.entries()]);
        expect(m.evicted).toBe(evicted);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('backoffDelay', () => {
  it('doubles from the base up to the cap; with jitter, between half and all of that', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1000, false))).toEqual([100, 200, 400, 800, 1000]);
    for (let a = 0; a < 50; a++) {
      const d = backoffDelay(a, 100, 1000);
      const ceiling = Math.min(1000, 100 * 2 ** a);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });
});
