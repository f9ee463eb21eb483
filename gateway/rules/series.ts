import type { ReadingEvent } from '../core/events.js';
import type { Kind } from '../core/kinds.js';

/** Which readings a time fact looks at: the reading's device, its zone (any device), or its site. */
export type Scope = 'device' | 'zone' | 'site';
export const SCOPES: readonly Scope[] = ['device', 'zone', 'site'];

export function scopeKey(r: Pick<ReadingEvent, 'site' | 'zone' | 'source'>, scope: Scope): string {
  return scope === 'device' ? r.source : scope === 'zone' ? `${r.site}/${r.zone}` : r.site;
}

/** A sliding window a rule reads: its kind and scope, and how far back. */
export interface WindowNeed {
  readonly kind: Kind;
  readonly scope: Scope;
  readonly withinMs: number;
}

export interface Sample {
  /** The reading's time as the gateway vouches for it (its judged time). */
  readonly t: number;
  /** The stored numeric value (booleans 1/0, keypad ok=1 fail=0). */
  readonly v: number;
}

/** `samples[start…]`: the part of a series inside a window, without copying it. */
export interface SampleView {
  readonly samples: readonly Sample[];
  readonly start: number;
  /** The sum of every sample of the series (so a window that covers it all needs no loop). */
  readonly total: number;
}

const EMPTY: SampleView = { samples: [], start: 0, total: 0 };

/** A series' samples in time order, and their running sum. */
interface Series {
  readonly samples: Sample[];
  total: number;
}

/** Past this, a series drops its oldest samples (a device flooding one series cannot eat memory). */
const MAX_SAMPLES = 10_000;

/**
 * The recent readings the rules' windows need, and only those: a reading is kept once per
 * scope a rule reads its kind at, for as long as the longest window over that kind and scope.
 * Samples stay across rule reloads, so a reload does not empty the windows.
 */
export class SeriesStore {
  private needs = new Map<Kind, { scope: Scope; retentionMs: number }[]>();
  private readonly series = new Map<string, Series>();

  configure(needs: readonly WindowNeed[]): void {
    const longest = new Map<string, WindowNeed>();
    for (const n of needs) {
      const key = `${n.kind}|${n.scope}`;
      const seen = longest.get(key);
      if (!seen || seen.withinMs < n.withinMs) longest.set(key, n);
    }
    const byKind = new Map<Kind, { scope: Scope; retentionMs: number }[]>();
    for (const n of longest.values()) {
      let list = byKind.get(n.kind);
      if (!list) byKind.set(n.kind, (list = []));
      list.push({ scope: n.scope, retentionMs: n.withinMs });
    }
    this.needs = byKind;
    for (const key of [...this.series.keys()]) {
      const [kind, scope] = key.split('|') as [Kind, Scope];
      if (!longest.has(`${kind}|${scope}`)) this.series.delete(key);
    }
  }

  /** True when some window reads this kind (so the caller can skip the work otherwise). */
  wants(kind: Kind): boolean {
    return this.needs.has(kind);
  }

  record(r: ReadingEvent, now: number): void {
    const needs = this.needs.get(r.kind);
    if (!needs) return;
    for (const { scope, retentionMs } of needs) {
      const key = `${r.kind}|${scope}|${scopeKey(r, scope)}`;
      let series = this.series.get(key);
      if (!series) this.series.set(key, (series = { samples: [], total: 0 }));
      const { samples } = series;
      const t = r.judgedMs ?? r.timeMs;
      // Readings of one device come in time order; a zone's devices may interleave a little.
      let i = samples.length;
      while (i > 0 && samples[i - 1]!.t > t) i--;
      if (i === samples.length) samples.push({ t, v: r.numeric });
      else samples.splice(i, 0, { t, v: r.numeric });
      series.total += r.numeric;
      const cutoff = Math.max(now, t) - retentionMs;
      let drop = 0;
      while (drop < samples.length - 1 && samples[drop]!.t < cutoff) series.total -= samples[drop++]!.v;
      if (samples.length - drop > MAX_SAMPLES) {
        while (samples.length - drop > MAX_SAMPLES) series.total -= samples[drop++]!.v;
      }
      if (drop > 0) samples.splice(0, drop);
    }
  }

  /** The samples of a series with time ≥ fromMs, oldest first (a view: no copy). */
  window(kind: Kind, scope: Scope, key: string, fromMs: number): SampleView {
    const series = this.series.get(`${kind}|${scope}|${key}`);
    if (!series) return EMPTY;
    const { samples } = series;
    // Samples are in time order: find the first one in the window by bisection.
    let lo = 0;
    let hi = samples.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (samples[mid]!.t < fromMs) lo = mid + 1;
      else hi = mid;
    }
    return { samples, start: lo, total: series.total };
  }

  get seriesCount(): number {
    return this.series.size;
  }
}
