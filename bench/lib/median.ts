/**
 * The median run of several, by one figure: the lower middle for an even count, runs without the
 * figure (NaN) last. The throughput and latency sections report this run whole, beside every
 * run's figure.
 */
export function medianBy<T>(runs: readonly T[], figure: (run: T) => number): T | undefined {
  const sorted = [...runs].sort((a, b) => {
    const [x, y] = [figure(a), figure(b)];
    return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : Number.isNaN(y) ? -1 : x - y;
  });
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
