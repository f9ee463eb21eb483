import type { Clock, ClockTimer } from './clock.js';
import { ManualClock } from './manual-clock.js';

interface Handle extends ClockTimer {
  readonly at: number;
  readonly fn: () => void;
  inner: ClockTimer | undefined;
  done: boolean;
  unrefed: boolean;
}

/**
 * The rules' clock across a rebuild: manual while stored events are replayed (each at its own
 * time, timers firing in simulated time), then the live clock, with the timers still pending
 * moved over at their absolute due times (a 5-minute held-for started 2 minutes before a restart
 * fires 3 minutes after it). Timer handles stay valid across the switch.
 */
export class ReplayClock implements Clock {
  private manual: ManualClock | undefined;
  private readonly pending = new Set<Handle>();

  constructor(private readonly live: Clock) {}

  /** Switches to manual time at `atMs`; returns the manual clock to drive. */
  replayFrom(atMs: number): ManualClock {
    if (this.manual) throw new Error('already replaying');
    this.manual = new ManualClock(atMs);
    return this.manual;
  }

  get replaying(): boolean {
    return this.manual !== undefined;
  }

  /** Back to the live clock; timers not yet fired are armed on it at their due times. */
  goLive(): void {
    const manual = this.manual;
    if (!manual) return;
    this.manual = undefined;
    for (const h of this.pending) {
      if (h.inner) manual.clearTimeout(h.inner);
      this.arm(h);
    }
  }

  now(): number {
    return this.manual ? this.manual.now() : this.live.now();
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const h: Handle = { at: this.now() + Math.max(0, ms), fn, inner: undefined, done: false, unrefed: false };
    h.unref = () => {
      h.unrefed = true;
      h.inner?.unref?.();
    };
    this.arm(h);
    return h;
  }

  clearTimeout(timer: ClockTimer): void {
    const h = timer as Handle;
    h.done = true;
    this.pending.delete(h);
    if (h.inner) (this.manual ?? this.live).clearTimeout(h.inner);
  }

  private arm(h: Handle): void {
    const clock = this.manual ?? this.live;
    this.pending.add(h);
    h.inner = clock.setTimeout(() => {
      if (h.done) return;
      h.done = true;
      this.pending.delete(h);
      h.fn();
    }, Math.max(0, h.at - clock.now()));
    if (h.unrefed) h.inner.unref?.();
  }
}
