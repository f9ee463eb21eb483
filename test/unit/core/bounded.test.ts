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

  it('keeps what was touched most recently', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2);
    m.touch('a', 1);
    m.set('c', 3);
    expect([...m.keys()]).toEqual(['a', 'c']);
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
