/**
 * forgetLeastUseful (ingest/silence-bound.ts): within the rank it cuts, the devices heard longest
 * ago go, whatever their order in the table. Found by a review: with ties at the cut-off time,
 * the quota went to devices in table order, so a device heard earlier than the cut-off could stay
 * while more recent ones went (last heard A=7, B=7, C=5, D=9, forget 2: A and B went, C stayed).
 */
import { describe, expect, it } from 'vitest';
import { forgetLeastUseful, type Heard } from '../../../gateway/ingest/silence-bound.js';

const reporting = (last: number): Heard => ({ last, interval: 60_000, silent: false, away: false, once: false });

function forget(lasts: Record<string, number>, n: number): string[] {
  const devices = new Map(Object.entries(lasts).map(([k, last]) => [k, reporting(last)]));
  const gone: string[] = [];
  forgetLeastUseful(devices, n, (d) => gone.push(d));
  expect([...devices.keys()].length).toBe(Object.keys(lasts).length - gone.length);
  return gone.sort();
}

describe('forgetLeastUseful among devices that report', () => {
  it('forgets the ones heard longest ago, ties at the cut-off first seen first', () => {
    expect(forget({ A: 7, B: 7, C: 5, D: 9 }, 2)).toEqual(['A', 'C']);
    expect(forget({ D: 9, A: 7, B: 7, C: 5 }, 2)).toEqual(['A', 'C']);
    expect(forget({ A: 7, B: 7, C: 5, D: 9 }, 3)).toEqual(['A', 'B', 'C']);
    expect(forget({ A: 1, B: 2, C: 3 }, 1)).toEqual(['A']);
  });

  it('forgets a flood of ids heard once before any device that reports', () => {
    const devices = new Map<string, Heard>([
      ['detector', reporting(1)],
      ['junk-1', { last: 5, interval: undefined, silent: true, away: false, once: true }],
      ['junk-2', { last: 6, interval: undefined, silent: false, away: false, once: true }],
    ]);
    const gone: string[] = [];
    forgetLeastUseful(devices, 2, (d) => gone.push(d));
    expect(gone).toEqual(['junk-1', 'junk-2']);
    expect([...devices.keys()]).toEqual(['detector']);
  });
});
