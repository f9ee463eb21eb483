import { describe, expect, it } from 'vitest';
import { contentOffset, CROWDED_MAX, idOffset, MAX_OFFSET_NS, RECENT_EVENTS, SeriesMemory } from '../../../gateway/core/series-memory.js';

describe('SeriesMemory (dedupe and point identity of one series)', () => {
  it('tells a resend (same id, same content) from an id reused with other content', () => {
    const m = new SeriesMemory(0);
    expect(m.admit('a', 20, 1000)).toBe('new');
    expect(m.admit('a', 20, 1000)).toBe('duplicate');
    expect(m.admit('a', 25, 31_000)).toBe('reuse');
    expect(m.admit('a', 25, 31_000)).toBe('duplicate');
    // Without ts: the same value is a resend, another value a reuse.
    expect(m.admit('n', 1, undefined)).toBe('new');
    expect(m.admit('n', 1, undefined)).toBe('duplicate');
    expect(m.admit('n', 2, undefined)).toBe('reuse');
  });

  it('gives the first event at a millisecond offset 0, a different one its derived offset (id and content), and the same event its same offset', () => {
    const m = new SeriesMemory(0);
    m.admit('a', 20, 5000);
    expect(m.place('a', 5000, Infinity)).toBe(0);
    m.admit('b', 35, 5000);
    expect(m.place('b', 5000, Infinity)).toBe(contentOffset('b', 35, 5000));
    expect(m.place('b', 5000, Infinity)).toBe(contentOffset('b', 35, 5000));
    // An id reused with other content at the same ms is another event: another point.
    m.admit('a', 99, 5000);
    const reused = m.place('a', 5000, Infinity);
    expect(reused).not.toBe(0);
    expect(reused).toBe(contentOffset('a', 99, 5000));
    // An event the gateway made (its content unknown here): its id's own offset.
    expect(m.place('gw-made', 5000, Infinity)).toBe(idOffset('gw-made'));
  });

  it('bumps past an offset it knows is taken (the rare hash collision)', () => {
    const m = new SeriesMemory(0);
    m.recall('x', 7, 0);
    m.recall('z', 7, idOffset('y'));
    expect(m.place('y', 7, Infinity)).toBe(idOffset('y') === MAX_OFFSET_NS ? 1 : idOffset('y') + 1);
  });

  it('vouches for nothing before its fence, nor after `zeroUpTo`: offset 0 only where it knows the slot', () => {
    const m = new SeriesMemory(10_000);
    expect(m.place('before', 9_000, Infinity)).toBe(idOffset('before'));
    expect(m.place('ahead', 20_000, 15_000)).toBe(idOffset('ahead'));
    expect(m.place('fine', 12_000, 15_000)).toBe(0);
  });

  it('stops vouching for a millisecond once it forgets an offset-0 point there', () => {
    const m = new SeriesMemory(0);
    expect(m.place('first', 100, Infinity)).toBe(0);
    for (let i = 0; i < RECENT_EVENTS; i++) m.place(`later-${i}`, 200 + i, Infinity);
    // 'first' is forgotten: another event at 100 must not take offset 0.
    expect(m.place('other', 100, Infinity)).toBe(idOffset('other'));
  });

  it('gives every event of a burst at one millisecond its own point, however many more than the ring holds', () => {
    // Found from outside: 10 mosquitto_pub publishers flat out, readings without ts; a socket read
    // of one device held ~100 readings stamped at one ms, and the ring (64) forgot the first ones'
    // offsets while ids 80 apart derive the same offset (g15w-5-9941 and g15w-5-10025): InfluxDB
    // kept one point of two, the gateway had counted both as written.
    expect(idOffset('g15w-5-10025')).toBe(idOffset('g15w-5-9941'));
    const m = new SeriesMemory(0);
    const offsets = new Set<number>();
    for (let i = 9900; i < 10_900; i++) {
      const id = `g15w-5-${i}`;
      expect(m.admit(id, 21 + (i % 20) / 10, undefined)).toBe('new');
      offsets.add(m.place(id, 1_795_939_910_763, Infinity));
    }
    expect(offsets.size).toBe(1000);
    // The same for a buffer uploaded later with one older `ts` (history: not the newest millisecond).
    const h = new SeriesMemory(0);
    h.admit('latest', 20, 1_795_939_999_000);
    h.place('latest', 1_795_939_999_000, Infinity);
    const older = new Set<number>();
    for (let i = 9900; i < 10_900; i++) {
      h.admit(`g15w-5-${i}`, 22, 1_795_939_000_000);
      older.add(h.place(`g15w-5-${i}`, 1_795_939_000_000, Infinity));
    }
    expect(older.size).toBe(1000);
  });

  it('gives an event of such a burst placed again its same point (rewriting stays idempotent)', () => {
    const m = new SeriesMemory(0);
    const first = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      m.admit(`e-${i}`, i, undefined);
      first.set(`e-${i}`, m.place(`e-${i}`, 7_000, Infinity));
    }
    // e-3 is long out of the ring; the same event placed again (a rewrite) finds its point.
    expect(m.place('e-3', 7_000, Infinity)).toBe(first.get('e-3'));
    // Sent again with the same value (a resend the ring no longer knows): its own point too.
    m.admit('e-4', 4, undefined);
    expect(m.place('e-4', 7_000, Infinity)).toBe(first.get('e-4'));
    // The id reused with another value (a counter restarted) is another reading: another point.
    m.admit('e-5', 99, undefined);
    expect(m.place('e-5', 7_000, Infinity)).not.toBe(first.get('e-5'));
  });

  it('keeps at most CROWDED_MAX forgotten points aside for a device whose clock is stuck (every reading at one ts), and stays quick', () => {
    const m = new SeriesMemory(0);
    const offsets = new Set<number>();
    for (let i = 0; i < 50_000; i++) {
      m.admit(`stuck-${i}`, 21, 1_000);
      offsets.add(m.place(`stuck-${i}`, 1_000, Infinity));
    }
    // Distinct for the first CROWDED_MAX + the ring at least; past that the ids' own offsets (as before).
    expect(offsets.size).toBeGreaterThan(CROWDED_MAX + RECENT_EVENTS);
    expect((m as unknown as { crowded: { points: Map<number, unknown> } }).crowded.points.size).toBe(CROWDED_MAX);
  });

  it('never gives a third content of one id at one ms the point of the second once the ring forgot them, nor after a restart; a resend of each keeps its point', () => {
    // Found from outside: a device reused id d1 at one ts with 41, 42, then (70 readings later) 43;
    // 41 took offset 0, 42 and 43 the id's own offset alike, and InfluxDB kept 43 in place of 42.
    const T = 1_795_960_699_798;
    const m = new SeriesMemory(0);
    expect(m.admit('d1', 41, T)).toBe('new');
    expect(m.place('d1', T, Infinity)).toBe(0);
    expect(m.admit('d1', 42, T)).toBe('reuse');
    const second = m.place('d1', T, Infinity);
    expect(second).not.toBe(0);
    for (let i = 0; i < 70; i++) {
      m.admit(`o${i}`, 50, T + 1000 + i);
      m.place(`o${i}`, T + 1000 + i, Infinity);
    }
    m.admit('d1', 43, T);
    const third = m.place('d1', T, Infinity);
    expect([0, second]).not.toContain(third);
    // The same events sent again (the ring has forgotten 42): their own points.
    m.admit('d1', 42, T);
    expect(m.place('d1', T, Infinity)).toBe(second);
    expect(m.admit('d1', 43, T)).toBe('duplicate');
    // After a restart (a new memory fenced after T; the rules' rebuild remembers what was stored).
    for (const remembered of [false, true]) {
      const after = new SeriesMemory(T + 60_000);
      if (remembered) for (const v of [41, 42]) after.remember('d1', v, T);
      expect(after.admit('d1', 43, T)).toBe(remembered ? 'reuse' : 'new');
      const later = after.place('d1', T, Infinity);
      expect([0, second]).not.toContain(later);
      expect(later).toBe(third);
      // 42 resent after the restart: a duplicate the rebuild remembered, else its earlier point.
      expect(after.admit('d1', 42, T)).toBe(remembered ? 'duplicate' : 'reuse');
      if (!remembered) expect(after.place('d1', T, Infinity)).toBe(second);
    }
  });

  it('derives offsets in 1…999,999 ns', () => {
    for (const id of ['a', 'b', '', 'x'.repeat(500), '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b']) {
      expect(idOffset(id)).toBeGreaterThanOrEqual(1);
      expect(idOffset(id)).toBeLessThanOrEqual(MAX_OFFSET_NS);
    }
  });

  it('keeps the offsets points were stored at (FNV-1a of the id)', () => {
    expect(['a', '0192d3f0-7c1e-7abc-8def-0123456789ab', 'stats-1700000000000'].map(idOffset)).toEqual([6047, 902167, 855082]);
  });
});
