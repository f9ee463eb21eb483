import type { ManualClock } from '../core/manual-clock.js';
import type { ReplayClock } from '../core/replay-clock.js';
import type { RuleSet } from './loader.js';
import type { RulesRuntime } from './runtime.js';

/**
 * Rebuilding the rules' memory by replay: recorded events go through the live runtime on a
 * manual clock (each at its own time, timers firing in simulated time), then the clock goes live
 * with the timers still pending at their due times. The caller keeps what comes out from being
 * published (a dry run). Used by a cluster node taking a partition over (from the partition's
 * stream); issue 11's rebuild at start (from InfluxDB) has the same shape.
 */

/** One recorded event to replay at `atMs`. */
export interface DryRunItem {
  readonly atMs: number;
  apply(): void | Promise<void>;
}

/** Read this much more than the longest duration, so a timer that started just before it is seen start. */
export const DRY_RUN_MARGIN_MS = 60_000;

/** How far back windows, held-for and absence timers of a rule set look (plus the margin). */
export function lookbackMs(set: RuleSet): number {
  let longest = 0;
  for (const r of set.rules) {
    for (const w of r.windows) longest = Math.max(longest, w.withinMs);
    for (const w of r.watches) if (w.type !== 'hysteresis') longest = Math.max(longest, w.forMs);
  }
  return longest + DRY_RUN_MARGIN_MS;
}

export interface DryRunResult {
  readonly items: number;
  /** Rule timers pending once live. */
  readonly timers: number;
}

/**
 * Replays `batches` (in time order) from `fromMs`, then moves the manual clock to `untilMs`
 * (timers due by then fire in the replay, dry), then goes live. The clock never passes `untilMs`
 * in the replay (an item after it is applied at `untilMs`): timers due later were not fired by
 * whoever recorded the items, so they fire live. `beforeLive` runs last, on the manual clock
 * (e.g. adopting what the shared state says was really commanded).
 */
export async function dryRun(o: {
  readonly runtime: RulesRuntime;
  readonly clock: ReplayClock;
  readonly fromMs: number;
  readonly untilMs: number;
  readonly batches: AsyncIterable<readonly DryRunItem[]> | Iterable<readonly DryRunItem[]>;
  readonly beforeLive?: () => void | Promise<void>;
}): Promise<DryRunResult> {
  const { runtime, clock } = o;
  const manual = clock.replayFrom(o.fromMs);
  let items = 0;
  try {
    for await (const batch of o.batches) {
      for (const item of batch) {
        await advance(manual, runtime, Math.min(item.atMs, o.untilMs));
        await item.apply();
        items++;
      }
    }
    await advance(manual, runtime, o.untilMs);
    await o.beforeLive?.();
  } finally {
    clock.goLive();
  }
  await runtime.idle();
  return { items, timers: runtime.wakeups.size };
}

async function advance(manual: ManualClock, runtime: RulesRuntime, to: number): Promise<void> {
  await runtime.idle();
  while (manual.fireNext(to)) await runtime.idle();
  manual.advanceTo(to);
}
