/**
 * The windows over one series at a cost independent of their size: per window length a running
 * (compensated) sum, min/max monotonic deques and tallies, kept as samples come, go and as the
 * window moves (series.ts keeps the samples).
 */

/** Up to this many samples a sum is added up in order (exactly as a loop would: thresholds see no drift); past it, the running sum. */
const EXACT_SUM_UP_TO = 64;

/**
 * Positions in a series (ascending), front at `h`: a monotonic deque for a window's min or max.
 * Holds the positions whose value beats every later one in the window (strictly), so the front
 * is the extreme; each position enters and leaves once.
 */
class Deque {
  q: number[] = [];
  h = 0;

  get empty(): boolean {
    return this.h === this.q.length;
  }

  /**
   * A sample entered the window at position `i` (positions from `i` on moved one up): `wins(a, b)`
   * says a value `a` at an earlier position stays ahead of `b` at a later one.
   */
  insert(i: number, v: number, values: readonly number[], wins: (a: number, b: number) => boolean): void {
    const { q } = this;
    let s = q.length;
    while (s > this.h && q[s - 1]! >= i) {
      s--;
      q[s] = q[s]! + 1;
    }
    // The newcomer counts only if it beats everything after it.
    if (s < q.length && !wins(v, values[q[s]!]!)) return;
    let m = s;
    while (m > this.h && !wins(values[q[m - 1]!]!, v)) m--;
    if (m === q.length) q.push(i);
    else if (m + 1 === s) q[m] = i;
    else q.splice(m, s - m, i);
  }

  /** A sample entered at the window's old end (its first position moved back to `i`). */
  insertFront(i: number, v: number, values: readonly number[], wins: (a: number, b: number) => boolean): void {
    if (!this.empty && !wins(v, values[this.q[this.h]!]!)) return;
    if (this.h > 0) this.q[--this.h] = i;
    else this.q.unshift(i);
  }

  /** Samples before `start` left the window. */
  expire(start: number): void {
    const { q } = this;
    while (this.h < q.length && q[this.h]! < start) this.h++;
    if (this.h === q.length) {
      q.length = 0;
      this.h = 0;
    } else if (this.h > 1024 && this.h * 2 > q.length) {
      q.splice(0, this.h);
      this.h = 0;
    }
  }

  /** Every position from `from` on moved `by` (negative: the series dropped its head). */
  shift(from: number, by: number): void {
    const { q } = this;
    for (let k = this.h; k < q.length; k++) if (q[k]! >= from) q[k] = q[k]! + by;
  }

  front(): number {
    return this.q[this.h]!;
  }
}

const greater = (a: number, b: number) => a > b;
const less = (a: number, b: number) => a < b;

/**
 * One window length over one series: the samples with time ≥ `from` are `[start, end)` of the
 * series, with their running sum, tallies and min/max deques kept as samples come, go and as
 * `from` moves, so reading the window costs the same however many samples it holds.
 */
export class Track {
  from = Number.NEGATIVE_INFINITY;
  start = 0;
  /** Neumaier's compensated sum: the running sum keeps the low bits adding and dropping loses. */
  private sum = 0;
  private comp = 0;
  readonly max: Deque | undefined;
  readonly min: Deque | undefined;
  readonly tallies: number[];

  constructor(
    readonly withinMs: number,
    minmax: boolean,
    readonly equals: readonly number[],
  ) {
    this.max = minmax ? new Deque() : undefined;
    this.min = minmax ? new Deque() : undefined;
    this.tallies = equals.map(() => 0);
  }

  private add(v: number, sign: 1 | -1): void {
    const x = sign * v;
    const t = this.sum + x;
    this.comp += Math.abs(this.sum) >= Math.abs(x) ? this.sum - t + x : x - t + this.sum;
    this.sum = t;
    const { equals, tallies } = this;
    for (let k = 0; k < equals.length; k++) if (equals[k] === v) tallies[k]! += sign;
  }

  /** A sample was inserted at `i` (the series' positions from `i` on moved up one). */
  inserted(i: number, t: number, v: number, values: readonly number[]): void {
    if (t < this.from) {
      // Older than the window: it sits before it, so everything of the window moved up one.
      this.start++;
      this.max?.shift(i, 1);
      this.min?.shift(i, 1);
      return;
    }
    this.add(v, 1);
    this.max?.insert(i, v, values, greater);
    this.min?.insert(i, v, values, less);
  }

  /** Samples before `head` were dropped from the series. */
  dropped(head: number, values: readonly number[]): void {
    if (this.start >= head) return;
    for (let k = this.start; k < head; k++) this.add(values[k]!, -1);
    this.start = head;
    this.max?.expire(head);
    this.min?.expire(head);
  }

  /** The series dropped `by` positions from its array: every position moved down. */
  compacted(by: number): void {
    this.start -= by;
    this.max?.shift(0, -by);
    this.min?.shift(0, -by);
  }

  /** Moves the window to start at `from` (later: samples leave; earlier: kept samples come back in). */
  moveTo(from: number, s: Series): void {
    const { t: times, v: values } = s;
    if (from >= this.from) {
      let i = this.start;
      while (i < times.length && times[i]! < from) this.add(values[i++]!, -1);
      if (i !== this.start) {
        this.start = i;
        // An empty window starts its sum afresh (no drift carried over).
        if (i === times.length) this.sum = this.comp = 0;
        this.max?.expire(i);
        this.min?.expire(i);
      }
    } else {
      while (this.start > s.head && times[this.start - 1]! >= from) {
        const i = --this.start;
        const v = values[i]!;
        this.add(v, 1);
        this.max?.insertFront(i, v, values, greater);
        this.min?.insertFront(i, v, values, less);
      }
    }
    this.from = from;
  }

  /** The sum of the window's samples: added up in order when few (as a loop), else the running sum. */
  total(s: Series): number {
    const n = s.t.length - this.start;
    if (n > EXACT_SUM_UP_TO) return this.sum + this.comp;
    let sum = 0;
    for (let i = this.start; i < s.v.length; i++) sum += s.v[i]!;
    return sum;
  }

  tally(equals: number): number | undefined {
    const k = this.equals.indexOf(equals);
    return k < 0 ? undefined : this.tallies[k];
  }
}

/** A series' samples in time order (times and values side by side, live from `head`), and its windows. */
export class Series {
  readonly t: number[] = [];
  readonly v: number[] = [];
  head = 0;
  constructor(public tracks: readonly Track[]) {}
}
