import { BoundedMap } from '../core/bounded-map.js';
import type { ReadingEvent } from '../core/events.js';
import type { Kind } from '../core/kinds.js';
import { RULE_BOUNDS, boundOf, type OnForget, type KeyBounds } from './bounds.js';
import { Series, Track } from './window-track.js';

/** Which readings a time fact looks at: the reading's device, its zone (any device), or its site. */
export type Scope = 'device' | 'zone' | 'site';
export const SCOPES: readonly Scope[] = ['device', 'zone', 'site'];

/**
 * `${site}/${zone}`, made once per zone rather than once per reading: only a cache of strings, so
 * past MAX_ZONE_KEYS (zones of every site together) it is started afresh.
 */
const zoneKeys = new Map<string, Map<string, string>>();
export const MAX_ZONE_KEYS = 100_000;
let zoneKeyCount = 0;

export function zoneKey(site: string, zone: string): string {
  let zones = zoneKeys.get(site);
  let key = zones?.get(zone);
  if (key !== undefined) return key;
  if (zoneKeyCount >= MAX_ZONE_KEYS) {
    zoneKeys.clear();
    zoneKeyCount = 0;
    zones = undefined;
  }
  if (!zones) zoneKeys.set(site, (zones = new Map<string, string>()));
  zones.set(zone, (key = `${site}/${zone}`));
  zoneKeyCount++;
  return key;
}

/** Zone keys cached now (for tests of the bound). */
export function zoneKeysCached(): number {
  return zoneKeyCount;
}

export function scopeKey(r: Pick<ReadingEvent, 'site' | 'zone' | 'source'>, scope: Scope): string {
  return scope === 'device' ? r.source : scope === 'zone' ? zoneKey(r.site, r.zone) : r.site;
}

/** A sliding window a rule reads: its kind and scope, how far back, and what it asks of it. */
export interface WindowNeed {
  readonly kind: Kind;
  readonly scope: Scope;
  readonly withinMs: number;
  /** `window`'s min or max: a monotonic deque is kept. */
  readonly minmax?: boolean;
  /** `count`'s `equals`, as the stored numeric value (a running tally per value). */
  readonly equals?: number | undefined;
}

/** Past this, a series drops its oldest samples (a device flooding one series cannot eat memory). */
const MAX_SAMPLES = 10_000;

/** What is kept of one kind at one scope: as long as the longest window, and the windows read over it. */
interface Need {
  readonly scope: Scope;
  readonly retentionMs: number;
  readonly tracks: readonly { readonly withinMs: number; readonly minmax: boolean; readonly equals: readonly number[] }[];
  /** By device, zone or site: past the bound of its scope, the one first seen is forgotten. */
  readonly series: BoundedMap<string, Series>;
}

/**
 * The recent readings the rules' windows need, and only those: a reading is kept once per
 * scope a rule reads its kind at, for as long as the longest window over that kind and scope.
 * Each window length read over it keeps its sum, tallies and min/max as readings come and go
 * (no loop over the window, no shifting of the series). Samples stay across rule reloads, so a
 * reload does not empty the windows.
 */
export class SeriesStore {
  private needs = new Map<Kind, Need[]>();

  constructor(
    private readonly bounds: KeyBounds = RULE_BOUNDS,
    private readonly forgot?: OnForget,
  ) {}

  configure(needs: readonly WindowNeed[]): void {
    const merged = new Map<string, { kind: Kind; scope: Scope; retentionMs: number; tracks: Map<number, { withinMs: number; minmax: boolean; equals: number[] }> }>();
    for (const n of needs) {
      const key = `${n.kind}|${n.scope}`;
      let m = merged.get(key);
      if (!m) merged.set(key, (m = { kind: n.kind, scope: n.scope, retentionMs: n.withinMs, tracks: new Map() }));
      m.retentionMs = Math.max(m.retentionMs, n.withinMs);
      let track = m.tracks.get(n.withinMs);
      if (!track) m.tracks.set(n.withinMs, (track = { withinMs: n.withinMs, minmax: false, equals: [] }));
      if (n.minmax) track.minmax = true;
      if (n.equals !== undefined && !track.equals.includes(n.equals)) track.equals.push(n.equals);
    }
    const byKind = new Map<Kind, Need[]>();
    for (const m of merged.values()) {
      const old = this.needs.get(m.kind)?.find((n) => n.scope === m.scope);
      const need: Need = { scope: m.scope, retentionMs: m.retentionMs, tracks: [...m.tracks.values()], series: old?.series ?? this.seriesOf(m.scope) };
      // Samples stay; the windows over them are built afresh for the rules now in force.
      for (const s of need.series.values()) {
        s.tracks = this.tracksOf(need);
        for (const track of s.tracks) for (let i = s.head; i < s.t.length; i++) track.inserted(i, s.t[i]!, s.v[i]!, s.v);
        for (const track of s.tracks) track.start = s.head;
      }
      let list = byKind.get(m.kind);
      if (!list) byKind.set(m.kind, (list = []));
      list.push(need);
    }
    this.needs = byKind;
  }

  private seriesOf(scope: Scope): BoundedMap<string, Series> {
    const bound = boundOf(this.bounds, scope);
    return new BoundedMap<string, Series>(bound, () => this.forgot?.('series', bound));
  }

  private tracksOf(need: Need): Track[] {
    return need.tracks.map((t) => new Track(t.withinMs, t.minmax, t.equals));
  }

  /** True when some window reads this kind (so the caller can skip the work otherwise). */
  wants(kind: Kind): boolean {
    return this.needs.has(kind);
  }

  record(r: ReadingEvent, now: number): void {
    const needs = this.needs.get(r.kind);
    if (!needs) return;
    const t = r.judgedMs ?? r.timeMs;
    const v = r.numeric;
    for (let k = 0; k < needs.length; k++) {
      const need = needs[k]!;
      const key = scopeKey(r, need.scope);
      let s = need.series.get(key);
      if (!s) need.series.set(key, (s = new Series(this.tracksOf(need))));
      const { t: times, v: values, tracks } = s;
      // Readings of one device come in time order; a zone's devices may interleave a little.
      let i = times.length;
      while (i > s.head && times[i - 1]! > t) i--;
      if (i === times.length) {
        times.push(t);
        values.push(v);
      } else {
        times.splice(i, 0, t);
        values.splice(i, 0, v);
      }
      for (let j = 0; j < tracks.length; j++) tracks[j]!.inserted(i, t, v, values);
      // Older than the longest window, or past the cap: dropped (one sample always stays).
      const cutoff = Math.max(now, t) - need.retentionMs;
      let head = s.head;
      const last = times.length - 1;
      while (head < last && times[head]! < cutoff) head++;
      if (times.length - head > MAX_SAMPLES) head = times.length - MAX_SAMPLES;
      if (head !== s.head) {
        s.head = head;
        for (let j = 0; j < tracks.length; j++) tracks[j]!.dropped(head, values);
        // Amortised: the array is shortened once its dead head is as long as the live part.
        if (head > 1024 && head * 2 > times.length) {
          times.splice(0, head);
          values.splice(0, head);
          s.head = 0;
          for (let j = 0; j < tracks.length; j++) tracks[j]!.compacted(head);
        }
      }
    }
  }

  /** The series and its window of `withinMs` moved to start at `fromMs`; undefined when nothing is kept. */
  private at(kind: Kind, scope: Scope, key: string, withinMs: number, fromMs: number): { s: Series; track: Track | undefined; start: number } | undefined {
    const needs = this.needs.get(kind);
    if (!needs) return undefined;
    let need: Need | undefined;
    for (let k = 0; k < needs.length; k++) if (needs[k]!.scope === scope) need = needs[k];
    const s = need?.series.get(key);
    if (!s) return undefined;
    let track: Track | undefined;
    for (let k = 0; k < s.tracks.length; k++) if (s.tracks[k]!.withinMs === withinMs) track = s.tracks[k];
    if (track) {
      track.moveTo(fromMs, s);
      return { s, track, start: track.start };
    }
    // A window nobody declared (not from a loaded rule): found by bisection.
    let lo = s.head;
    let hi = s.t.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s.t[mid]! < fromMs) lo = mid + 1;
      else hi = mid;
    }
    return { s, track: undefined, start: lo };
  }

  /** An aggregate of the samples with time ≥ fromMs: undefined for avg/min/max of none, 0 for count/sum. */
  aggregate(kind: Kind, scope: Scope, key: string, withinMs: number, fromMs: number, agg: unknown): number | undefined {
    const w = this.at(kind, scope, key, withinMs, fromMs);
    const n = w ? w.s.t.length - w.start : 0;
    if (agg === 'count') return n;
    if (!w || n === 0) return agg === 'sum' ? 0 : undefined;
    const { s, track, start } = w;
    const values = s.v;
    if (agg === 'sum' || agg === 'avg') {
      let sum = 0;
      if (track) sum = track.total(s);
      else for (let i = start; i < values.length; i++) sum += values[i]!;
      return agg === 'sum' ? sum : sum / n;
    }
    if (agg !== 'min' && agg !== 'max') return undefined;
    const deque = agg === 'min' ? track?.min : track?.max;
    if (deque && !deque.empty) return values[deque.front()];
    let extreme = agg === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    for (let i = start; i < values.length; i++) {
      const v = values[i]!;
      if (agg === 'min' ? v < extreme : v > extreme) extreme = v;
    }
    return extreme;
  }

  /** How many samples with time ≥ fromMs there are (only those equal to `equals`, when given). */
  count(kind: Kind, scope: Scope, key: string, withinMs: number, fromMs: number, equals: unknown): number {
    const w = this.at(kind, scope, key, withinMs, fromMs);
    if (!w) return 0;
    const { s, track, start } = w;
    if (typeof equals !== 'number') return s.t.length - start;
    const tallied = track?.tally(equals);
    if (tallied !== undefined) return tallied;
    let n = 0;
    for (let i = start; i < s.v.length; i++) if (s.v[i] === equals) n++;
    return n;
  }

  /**
   * (newest − oldest) ÷ the time between them, per `perMs`, over the samples with time ≥ fromMs;
   * undefined until they span `minSpanMs`.
   */
  rate(kind: Kind, scope: Scope, key: string, withinMs: number, fromMs: number, perMs: number, minSpanMs: number): number | undefined {
    const w = this.at(kind, scope, key, withinMs, fromMs);
    if (!w) return undefined;
    const { s, start } = w;
    const last = s.t.length - 1;
    if (start > last) return undefined;
    const t0 = s.t[start]!;
    const t1 = s.t[last]!;
    if (t1 === t0 || t1 - t0 < minSpanMs) return undefined;
    return ((s.v[last]! - s.v[start]!) / (t1 - t0)) * perMs;
  }

  get seriesCount(): number {
    let n = 0;
    for (const needs of this.needs.values()) for (const need of needs) n += need.series.size;
    return n;
  }
}
