import type { Clock, ClockTimer } from '../core/clock.js';

interface Entry<P> {
  deadline: number | undefined;
  payload: P;
  timer: ClockTimer | undefined;
  timerAt: number;
}

/**
 * Wake-ups for the rules (absence, held-for, the end of an actuator's minimum on/off time),
 * one clock timer per key at most. Moving a deadline later — what every new reading does to
 * an absence watch — costs no timer work: the timer fires at the old deadline, sees the new
 * one and sleeps again. Cancelling is as cheap.
 */
export class Wakeups<P> {
  private readonly entries = new Map<string, Entry<P>>();

  constructor(
    private readonly clock: Clock,
    private readonly onWake: (key: string, payload: P) => void,
  ) {}

  /** Wakes `key` at `at` (replacing its deadline and payload). */
  set(key: string, at: number, payload: P): void {
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { deadline: at, payload, timer: undefined, timerAt: Number.POSITIVE_INFINITY }));
    entry.deadline = at;
    entry.payload = payload;
    if (entry.timer === undefined || entry.timerAt > at) this.arm(key, entry, at);
  }

  cancel(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.deadline = undefined;
  }

  /** Forgets a key now, timer and all (what was forgotten past a bound: its timer must not outlive it). */
  drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    if (entry.timer) this.clock.clearTimeout(entry.timer);
    this.entries.delete(key);
  }

  /** Deadline of a key, if one is set. */
  deadline(key: string): number | undefined {
    return this.entries.get(key)?.deadline;
  }

  /** The earliest deadline still to fire, if any (what a cluster owner may claim is done before). */
  earliestDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const e of this.entries.values()) if (e.deadline !== undefined && (earliest === undefined || e.deadline < earliest)) earliest = e.deadline;
    return earliest;
  }

  /** Keys with a live timer (for /metrics). */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const entry of this.entries.values()) if (entry.timer) this.clock.clearTimeout(entry.timer);
    this.entries.clear();
  }

  private arm(key: string, entry: Entry<P>, at: number): void {
    if (entry.timer) this.clock.clearTimeout(entry.timer);
    entry.timerAt = at;
    // Node's timers overflow past ~24.8 days; firing early just re-arms.
    entry.timer = this.clock.setTimeout(() => this.fire(key, entry), Math.min(2_147_483_647, Math.max(0, at - this.clock.now())));
    entry.timer.unref?.();
  }

  private fire(key: string, entry: Entry<P>): void {
    entry.timer = undefined;
    entry.timerAt = Number.POSITIVE_INFINITY;
    if (this.entries.get(key) !== entry) return;
    const { deadline } = entry;
    if (deadline === undefined) {
      this.entries.delete(key);
      return;
    }
    if (deadline > this.clock.now()) {
      this.arm(key, entry, deadline);
      return;
    }
    this.entries.delete(key);
    this.onWake(key, entry.payload);
  }
}
