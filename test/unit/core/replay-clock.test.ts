/** The rules' clock across a rebuild: manual while replaying, live after, pending timers kept at their due times. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { ReplayClock } from '../../../gateway/core/replay-clock.js';

describe('ReplayClock', () => {
  it('runs on the live clock until a replay, and on the replay’s manual clock during it', () => {
    const live = new ManualClock(10_000);
    const clock = new ReplayClock(live);
    expect(clock.now()).toBe(10_000);
    const manual = clock.replayFrom(1_000);
    expect(clock.replaying).toBe(true);
    expect(clock.now()).toBe(1_000);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 500);
    manual.advanceTo(2_000);
    expect(fired).toEqual([1_500]);
  });

  it('moves the timers still pending to the live clock at their absolute due times; earlier ones fire at once', () => {
    const live = new ManualClock(10_000);
    const clock = new ReplayClock(live);
    const manual = clock.replayFrom(1_000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['late', clock.now()]), 14_000); // due at 15,000: after the live now
    clock.setTimeout(() => fired.push(['overdue', clock.now()]), 5_000); // due at 6,000: before the live now
    const cancelled = clock.setTimeout(() => fired.push(['cancelled', clock.now()]), 12_000);
    manual.advanceTo(2_000);
    clock.goLive();
    expect(clock.replaying).toBe(false);
    expect(clock.now()).toBe(10_000);
    clock.clearTimeout(cancelled);
    live.advanceTo(14_999);
    expect(fired).toEqual([['overdue', 10_000]]);
    live.advanceTo(15_000);
    expect(fired).toEqual([
      ['overdue', 10_000],
      ['late', 15_000],
    ]);
    expect(live.pendingTimers).toBe(0);
  });
});
