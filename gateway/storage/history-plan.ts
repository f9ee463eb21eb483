import type { InfluxQuery } from './influx-query.js';

/**
 * The chunks `InfluxHistory.read` queries, planned from the readings' counts so that no chunk
 * holds more than `maxRows` readings whatever the rate: each chunk's JSON answer is held whole
 * in memory, and a 15-minute chunk at 2,000 readings/s was over a gigabyte (the rebuild ran the
 * gateway out of heap at every start). Counted per minute, then per second and per millisecond
 * where one holds too many; a millisecond still too full is paged by measurement (LIMIT/OFFSET).
 * Chunks follow each other in time, so items stay in time order across them.
 */

export interface ChunkSpan {
  readonly fromMs: number;
  readonly toMs: number;
  /** Only this reading measurement, one page of it (a millisecond with too many readings). */
  readonly page?: { readonly kind: string; readonly offset: number; readonly limit: number };
  /**
   * Which other (non-reading) items the chunk reads: all, none, or those ordered before or after
   * the readings of the same millisecond (HISTORY_ORDER), so pages keep that order.
   */
  readonly others: 'all' | 'none' | 'early' | 'late';
}

interface PlanOptions {
  readonly fromMs: number;
  readonly toMs: number;
  /** At most this much time per chunk (bounds the non-reading measurements, which are not counted). */
  readonly maxMs: number;
  readonly maxRows: number;
  /** The reading measurements (regex match of each kind's name). */
  readonly measurements: string;
  /** Extra conditions (site, zone). */
  readonly where: readonly string[];
}

/** Minute, second, millisecond: InfluxDB's `GROUP BY time()` buckets are aligned on the epoch. */
const LEVELS = [60_000, 1_000, 1] as const;

type Counts = Map<number, Map<string, number>>;

async function countsOf(q: InfluxQuery, o: PlanOptions, fromMs: number, toMs: number, bucketMs: number): Promise<Counts> {
  const filter = [`time >= ${Math.trunc(fromMs)}ms`, `time < ${Math.trunc(toMs)}ms`, ...o.where].join(' AND ');
  const [series = []] = await q.run([`SELECT count("value") FROM ${o.measurements} WHERE ${filter} GROUP BY time(${bucketMs}ms) fill(none)`]);
  const out: Counts = new Map();
  for (const s of series) {
    for (const [time, n] of s.values) {
      const count = Number(n);
      if (!(count > 0)) continue;
      const bucket = out.get(Number(time)) ?? new Map<string, number>();
      bucket.set(s.name, (bucket.get(s.name) ?? 0) + count);
      out.set(Number(time), bucket);
    }
  }
  return out;
}

const total = (bucket: ReadonlyMap<string, number> | undefined): number => [...(bucket?.values() ?? [])].reduce((a, b) => a + b, 0);

/** Splits a span longer than `maxMs` (its readings only get fewer). */
export function* capped(span: ChunkSpan, maxMs: number): Generator<ChunkSpan> {
  for (let from = span.fromMs; from < span.toMs; from += maxMs) yield { ...span, fromMs: from, toMs: Math.min(from + maxMs, span.toMs) };
}

export async function* planChunks(q: InfluxQuery, o: PlanOptions): AsyncGenerator<ChunkSpan> {
  async function* within(fromMs: number, toMs: number, level: number): AsyncGenerator<ChunkSpan> {
    const bucketMs = LEVELS[level] ?? 1;
    const counts = await countsOf(q, o, fromMs, toMs, bucketMs);
    let start = fromMs;
    let rows = 0;
    for (let b = Math.floor(fromMs / bucketMs) * bucketMs; b < toMs; b += bucketMs) {
      const s = Math.max(b, fromMs);
      const e = Math.min(b + bucketMs, toMs);
      const bucket = counts.get(b);
      const n = total(bucket);
      if (n > o.maxRows) {
        if (s > start) yield* capped({ fromMs: start, toMs: s, others: 'all' }, o.maxMs);
        if (level + 1 < LEVELS.length) yield* within(s, e, level + 1);
        else yield* pages(s, e, bucket ?? new Map());
        start = e;
        rows = 0;
        continue;
      }
      if (rows + n > o.maxRows && s > start) {
        yield* capped({ fromMs: start, toMs: s, others: 'all' }, o.maxMs);
        start = s;
        rows = 0;
      }
      rows += n;
    }
    if (toMs > start) yield* capped({ fromMs: start, toMs, others: 'all' }, o.maxMs);
  }
  // One millisecond: its readings page by page, the other items before or after them.
  function* pages(fromMs: number, toMs: number, bucket: ReadonlyMap<string, number>): Generator<ChunkSpan> {
    yield { fromMs, toMs, others: 'early' };
    for (const [kind, n] of [...bucket.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      for (let offset = 0; offset < n; offset += o.maxRows) yield { fromMs, toMs, page: { kind, offset, limit: o.maxRows }, others: 'none' };
    }
    yield { fromMs, toMs, others: 'late' };
  }
  yield* within(o.fromMs, o.toMs, 0);
}
