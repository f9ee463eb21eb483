/** GuardedMap: bounded like a BoundedMap, but an entry its owner keeps is never forgotten; with only those left, a newcomer is refused. */
import { describe, expect, it } from 'vitest';
import { GuardedMap } from '../../../gateway/core/guarded-map.js';

function map(capacity: number, kept: Set<string>) {
  const evicted: string[] = [];
  const refused: string[] = [];
  const m = new GuardedMap<string, number>(capacity, { kept: (k) => kept.has(k), onEvict: (k) => void evicted.push(k), onRefuse: (k) => void refused.push(k) });
  return { m, evicted, refused };
}

describe('GuardedMap', () => {
  it('forgets the oldest entry not kept, and keeps the kept ones', () => {
    const { m, evicted } = map(3, new Set(['a']));
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) m.set(k, i);
    expect([...m.keys()].sort()).toEqual(['a', 'd', 'e']);
    expect(evicted).toEqual(['b', 'c']);
    expect(m.evicted).toBe(2);
  });

  it('refuses a newcomer when every entry is kept, and admits it once one is not', () => {
    const kept = new Set(['a', 'b']);
    const { m, refused, evicted } = map(2, kept);
    m.set('a', 1).set('b', 2).set('c', 3);
    expect(m.has('c')).toBe(false);
    expect(refused).toEqual(['c']);
    expect(m.refused).toBe(1);
    // A key already there is set as usual.
    m.set('a', 9);
    expect(m.get('a')).toBe(9);
    kept.delete('b');
    m.touch('c', 3);
    expect([...m.entries()].sort()).toEqual([['a', 9], ['c', 3]]);
    expect(evicted).toEqual(['b']);
  });

  it('touch makes an entry the newest: the one changed longest ago goes first', () => {
    const { m, evicted } = map(3, new Set());
    m.set('a', 1).set('b', 2).set('c', 3);
    m.touch('a', 4);
    m.set('d', 5);
    expect(evicted).toEqual(['b']);
  });

  it('looks at a bounded number of entries per newcomer, yet over several newcomers finds one not kept behind many kept ones', () => {
    const kept = new Set(Array.from({ length: 1000 }, (_, i) => `k${i}`));
    const { m, refused } = map(1001, kept);
    for (const k of kept) m.set(k, 0);
    m.set('free', 0);
    let tries = 0;
    while (!m.has('new') && tries++ < 10) m.set('new', 1);
    expect(m.has('new')).toBe(true);
    expect(m.has('free')).toBe(false);
    expect(refused.length).toBeGreaterThan(0);
    expect(m.size).toBe(1001);
  });
});
