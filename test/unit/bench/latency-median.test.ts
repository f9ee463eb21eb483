import { describe, expect, it } from 'vitest';
import { medianRun, type LatencyResult } from '../../../bench/lib/latency.js';

function run(p99: number, note?: string): LatencyResult {
  return { rate: 5000, commandShare: 1, seconds: 10, sent: 100, received: 100, p50: p99 / 10, p99, p999: p99 * 1.2, max: p99 * 1.5, note };
}

describe('medianRun (the latency row of several runs)', () => {
  it('is the run with the median p99, and names every run in order', () => {
    const row = medianRun([run(260), run(65), run(101, 'saturated')]);
    expect(row?.p99).toBe(101);
    expect(row?.p50).toBeCloseTo(10.1);
    expect(row?.note).toBe('saturated; median p99 of 3 runs: 260.0, 65.0, 101.0 ms');
  });

  it('takes the lower middle of an even count, and puts a run without a p99 last', () => {
    expect(medianRun([run(40), run(Number.NaN), run(10), run(30)])?.p99).toBe(30);
    expect(medianRun([run(40), run(10)])?.p99).toBe(10);
  });

  it('leaves a single run as it is', () => {
    const only = run(12, 'x');
    expect(medianRun([only])).toBe(only);
    expect(medianRun([])).toBeUndefined();
  });
});
