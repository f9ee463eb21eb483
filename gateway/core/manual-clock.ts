import type { Clock, ClockTimer } from './clock.js';

interface Pending extends ClockTimer {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to, for rule tests, scenarios and replays: minutes of
 * simulated time run in milliseconds. Timers fire in due order (then in the order they were
 * set), each with `now()` at its due time.
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly timers: Pending[] = [];
  private order = 0;

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: Pending = { at: this.current + Math.max(0, ms), order: this.order++, fn, cancelled: false };
    // Few timers are pending at once (one per watched key), so a sorted insert is cheap.
    let i = this.timers.length;
    while (i > 0 && this.after(this.timers[i - 1]!, timer)) i--;
    this.timers.splice(i, 0, timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer): void {
    const t = timer as Pending;
    t.cancelled = true;
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** When the next timer is due, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    return this.timers[0]?.at;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Fires the next timer if it is due at or before `limitMs`, moving the clock to its time.
   * Returns false when there is none (the clock does not move then).
   */
  fireNext(limitMs = Number.POSITIVE_INFINITY): boolean {
    const next = this.timers[0];
    if (!next || next.at > limitMs) return false;
    this.timers.shift();
    this.current = Math.max(this.current, next.at);
    next.fn();
    return true;
  }

  /** Moves to `ms` (never backwards), firing every timer due on the way, synchronously. */
  advanceTo(ms: number): void {
    while (this.fireNext(ms));
    this.current = Math.max(this.current, ms);
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  private after(a: Pending, b: Pending): boolean {
    return a.at > b.at || (a.at === b.at && a.order > b.order);
  }
}
