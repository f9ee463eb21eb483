/**
 * What the gateway remembers of one series' recent events (one device's kind, or one series of
 * the gateway's own events), in one bounded ring that serves two purposes:
 *
 * - ingest's dedupe (`admit`): the same id with the same content (value, `ts`) is a resend; the
 *   same id with other content is a new reading (a device whose counter restarted);
 * - the store's point identity (`place`): InfluxDB keys a point by measurement, tags and time, so
 *   two different events of one series at one millisecond need different times. The first event
 *   at a millisecond keeps it exactly (offset 0); a later, different one gets a sub-millisecond
 *   offset (1…999,999 ns, bumped past offsets the memory knows are taken) derived from its id
 *   and, for a reading ingest admitted, its content (`contentOffset`): an id reused with other
 *   content must not derive the point of another content of that id once the memory forgot it.
 *   The same event placed twice gets the same offset, so rewriting it is idempotent.
 *
 * The memory only vouches for a millisecond at or after its fence: before it (before this process
 * started, or slots it has forgotten), an event never takes offset 0, which an event stored
 * earlier may hold; it takes its derived offset, the same each time it is written.
 */

import { fnv1a } from './partition.js';

export type Admission = 'new' | 'duplicate' | 'reuse';

/** Events remembered per series (the ring). */
export const RECENT_EVENTS = 64;
/** Per entry in `data`: value, ts (NaN: none), ms placed (NaN: not yet), offset (-1: not yet). */
const FIELDS = 4;
const NOT_PLACED = -1;
/** The id of an entry remembered for its slot only. */
const ANONYMOUS = '';
export const MAX_OFFSET_NS = 999_999;
/** Forgotten points kept aside for one crowded millisecond (see `crowded`). */
export const CROWDED_MAX = 1024;

/** A stable sub-millisecond offset for an event id: FNV-1a, 1…999,999. */
export function idOffset(id: string): number {
  return (fnv1a(id) % MAX_OFFSET_NS) + 1;
}

/**
 * A reading's offset, from its id and content (value, millisecond): each content of a reused id
 * derives its own point, the same each time it is written (a resend, after a restart too).
 */
export function contentOffset(id: string, value: number, ms: number): number {
  return idOffset(`${id}\n${value}\n${ms}`);
}

const sameNumber = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

export class SeriesMemory {
  private readonly ids: (string | undefined)[] = [];
  /** Allocated on first use: FIELDS numbers per entry. */
  private data: Float64Array | undefined;
  private next = 0;
  /** The entry `admit` just recorded, which `place` will be asked about next. */
  private admitted = -1;
  /** The newest millisecond placed: a later one is a free slot, with nothing to look up. */
  private newestMs = Number.NEGATIVE_INFINITY;
  /** The store has merged what the spool recovered for this series into it (once). */
  recalled = false;
  /** Entries `remember`ed from the history, by slot (made on first use). */
  private stored: boolean[] | undefined;
  /** The value of a point the spool recovered, by slot (NaN: unknown; made on first recall). */
  private recalledValues: Float64Array | undefined;
  /** The millisecond of the last event placed. */
  private lastPlacedMs = Number.NaN;
  /**
   * The points at the last placed millisecond that the ring has forgotten, offset → id and value: a
   * burst of more than RECENT_EVENTS events at one millisecond (a socket read of a hundred readings
   * without `ts`, a buffer uploaded with one `ts`) must not hand a forgotten offset to a later event
   * of the burst, whose point would replace the earlier one in InfluxDB. Dropped once an event is
   * placed at another millisecond. At most CROWDED_MAX: a device whose clock is stuck sends every
   * reading at one `ts`, and past that the memory vouches for no more of them (as before it had
   * this at all), rather than grow and walk a million offsets a reading.
   */
  private crowded: { ms: number; points: Map<number, { id: string; value: number }> } | undefined;

  /** `fenceMs`: the memory knows every point of the series placed at or after this millisecond. */
  constructor(private fenceMs: number) {}

  /**
   * Ingest: has the series seen this event? `value` is the stored numeric value, `tsMs` the
   * device's `ts` (undefined without one). A new event (or a reused id) is remembered.
   */
  admit(id: string, value: number, tsMs: number | undefined): Admission {
    const ts = tsMs ?? Number.NaN;
    let reused = false;
    const { ids } = this;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== id) continue;
      // Content unknown (recovered from the spool): neither; `place` finds its point.
      if (this.unknown(i)) continue;
      const d = this.data!;
      if (sameNumber(d[i * FIELDS]!, value) && (sameNumber(d[i * FIELDS + 1]!, ts) || (Number.isNaN(ts) && this.stored?.[i] === true))) return 'duplicate';
      reused = true;
    }
    this.admitted = this.record(id, value, ts, Number.NaN, NOT_PLACED);
    return reused ? 'reuse' : 'new';
  }

  /**
   * At start, a reading the history holds (stored by an earlier run, at `timeMs`): its resend is a
   * duplicate, as within one run. The history does not say whether it had a `ts` (its time is the
   * `ts`, else when it came), so a resend without one matches it too. Its point is not known here.
   */
  remember(id: string, value: number, timeMs: number): void {
    const slot = this.record(id, value, timeMs, Number.NaN, NOT_PLACED);
    (this.stored ??= [])[slot] = true;
  }

  /**
   * Store: the sub-millisecond offset (ns) of event `id` at `ms`. Offset 0 only where the memory
   * vouches for the slot: at or after its fence and at most `zeroUpToMs` (a point dated ahead of
   * the clock could meet one a later process stores; it takes its derived offset instead).
   */
  place(id: string, ms: number, zeroUpToMs: number): number {
    if (this.crowded !== undefined && this.crowded.ms !== ms) this.crowded = undefined;
    this.lastPlacedMs = ms;
    if (ms <= this.newestMs) {
      const placed = this.placedAt(id, ms);
      if (placed !== undefined) {
        this.admitted = -1;
        return placed;
      }
    }
    let slot = this.admitted;
    this.admitted = -1;
    const admitted = slot >= 0 && this.ids[slot] === id && this.data![slot * FIELDS + 3] === NOT_PLACED;
    // Not admitted (an id the gateway made, or an event of its own): placed once, so remembered
    // without its id (no string held per event); only the slot it takes matters.
    if (!admitted) slot = this.record(ANONYMOUS, Number.NaN, Number.NaN, Number.NaN, NOT_PLACED);
    const d = this.data!;
    const value = d[slot * FIELDS]!;
    // Content unknown (the gateway's own events, whose ids are unique): the id alone. Derived only
    // when used: the usual reading (the first at its millisecond) takes 0 and hashes nothing.
    const zeroAllowed = ms >= this.fenceMs && ms <= zeroUpToMs;
    let offset: number;
    if (ms > this.newestMs) {
      offset = zeroAllowed ? 0 : admitted ? contentOffset(id, value, ms) : idOffset(id);
      this.newestMs = ms;
    } else if (zeroAllowed && !this.taken(ms, 0)) {
      offset = 0;
    } else {
      offset = this.free(ms, admitted ? contentOffset(id, value, ms) : idOffset(id), admitted ? id : ANONYMOUS, value, admitted ? undefined : id);
    }
    d[slot * FIELDS + 2] = ms;
    d[slot * FIELDS + 3] = offset;
    return offset;
  }

  /**
   * Store, at start: a point the spool recovered (unconfirmed by the previous run, or kept); its
   * content is unknown to `admit`, but its value (NaN: none) tells `place` which content of a
   * reused id it is.
   */
  recall(id: string, ms: number, offset: number, value = Number.NaN): void {
    // The store recalls right after ingest admitted an event (before placing it): the admitted
    // entry must survive the recall, or the event would no longer know its own earlier point.
    if (this.next === this.admitted && this.ids[this.next] !== undefined) this.next = (this.next + 1) % RECENT_EVENTS;
    const slot = this.record(id, Number.NaN, Number.NaN, ms, offset);
    if (!Number.isNaN(value)) (this.recalledValues ??= new Float64Array(RECENT_EVENTS).fill(Number.NaN))[slot] = value;
    if (ms > this.newestMs) this.newestMs = ms;
  }

  private unknown(slot: number): boolean {
    const d = this.data!;
    return Number.isNaN(d[slot * FIELDS]!) && Number.isNaN(d[slot * FIELDS + 1]!);
  }

  /** The offset of this event if it was placed at `ms` already (its content the same, or unknown). */
  private placedAt(id: string, ms: number): number | undefined {
    const { ids } = this;
    const d = this.data;
    if (!d) return undefined;
    const admitted = this.admitted >= 0 && ids[this.admitted] === id ? this.admitted : -1;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== id || i === admitted || d[i * FIELDS + 2] !== ms || d[i * FIELDS + 3] === NOT_PLACED) continue;
      // An admitted reuse (other content) is a different event, unless the other's content is unknown
      // (a recovered point: its value, if the line had one; a value stored as 0 for want of a finite one).
      if (admitted >= 0 && (!this.unknown(i) || !this.mayBe(i, d[admitted * FIELDS]!))) continue;
      return d[i * FIELDS + 3];
    }
    return undefined;
  }

  /** A recovered point may be the admitted reading of `value`. */
  private mayBe(slot: number, value: number): boolean {
    const recalled = this.recalledValues?.[slot] ?? Number.NaN;
    return Number.isNaN(recalled) || !Number.isFinite(value) || recalled === value;
  }

  private taken(ms: number, offset: number): boolean {
    const d = this.data!;
    for (let i = 0; i < this.ids.length; i++) if (d[i * FIELDS + 2] === ms && d[i * FIELDS + 3] === offset) return true;
    return this.crowded?.ms === ms && this.crowded.points.has(offset);
  }

  /**
   * `from`, or the next offset after it the memory does not know to be taken at `ms`; in a crowded
   * millisecond, the offset event `id` already holds there (it was placed before, the ring forgot
   * it). `rewritten`: an event placed without its content, whose point may hold any offset there.
   */
  private free(ms: number, from: number, id: string, value: number, rewritten?: string): number {
    const crowded = this.crowded?.ms === ms ? this.crowded.points : undefined;
    if (crowded && rewritten) for (const [offset, held] of crowded) if (held.id === rewritten) return offset;
    let offset = from;
    for (let tries = 0; tries < RECENT_EVENTS + 1 + (crowded?.size ?? 0) && this.taken(ms, offset); tries++) {
      // The same event again (same id, the same value or one unknown): its own point. The same id with another value is another reading.
      const held = id !== ANONYMOUS ? crowded?.get(offset) : undefined;
      if (held !== undefined && held.id === id && (Number.isNaN(value) || Number.isNaN(held.value) || held.value === value)) return offset;
      offset = offset >= MAX_OFFSET_NS ? 1 : offset + 1;
    }
    return offset;
  }

  private record(id: string, value: number, ts: number, ms: number, offset: number): number {
    const d = (this.data ??= new Float64Array(RECENT_EVENTS * FIELDS));
    const slot = this.next;
    this.next = (slot + 1) % RECENT_EVENTS;
    const forgotten = this.ids[slot];
    if (forgotten !== undefined) {
      // Forgetting an offset-0 point: from now on the memory no longer vouches for its millisecond.
      const oldMs = d[slot * FIELDS + 2]!;
      const oldOffset = d[slot * FIELDS + 3]!;
      if (oldOffset === 0 && oldMs >= this.fenceMs) this.fenceMs = oldMs + 1;
      // The ring wraps within one millisecond: its point is kept aside (see `crowded`).
      if (oldOffset !== NOT_PLACED && oldMs === this.lastPlacedMs) {
        if (this.crowded?.ms !== oldMs) this.crowded = { ms: oldMs, points: new Map() };
        if (this.crowded.points.size < CROWDED_MAX) this.crowded.points.set(oldOffset, { id: forgotten, value: d[slot * FIELDS]! });
      }
    }
    if (this.stored) this.stored[slot] = false;
    if (this.recalledValues) this.recalledValues[slot] = Number.NaN;
    if (slot === this.ids.length) this.ids.push(id);
    else this.ids[slot] = id;
    d[slot * FIELDS] = value;
    d[slot * FIELDS + 1] = ts;
    d[slot * FIELDS + 2] = ms;
    d[slot * FIELDS + 3] = offset;
    return slot;
  }
}
