import type { ManualClock } from '../core/manual-clock.js';
import type { ReplayClock } from '../core/replay-clock.js';
import type { RuleSet } from './loader.js';
import type { CommandTimes, RulesRuntime } from './runtime.js';

/**
 * Rebuilding the rules' memory by replay, the one mechanism for both rebuilds: issue 11's at
 * start (rules/rebuild.ts, from InfluxDB) and a cluster node taking a partition over
 * (cluster/partition-worker.ts, from the partition's stream and the shared state). Recorded
 * events go through the live runtime as a dry run (`runtime.dry`: no command, notification, alarm
 * transition or saga step comes out) on a manual clock, each at its own time, timers firing in
 * simulated time; then the clock goes live with the timers still pending at their due times, and
 * the runtime goes live (what ran out meanwhile — quiet periods, confirmation times — acts now).
 */

/** One recorded event to replay at `atMs`. */
export interface DryRunItem {
  readonly atMs: number;
  apply(): void | Promise<void>;
}

/** Read this much more than the longest duration, so a timer that started just before it is seen start. */
export const DRY_RUN_MARGIN_MS = 60_000;

/** How far back the rules need to look: the longest window, held-for, absence or minimum on/off time, or a command's whole saga. */
export function lookbackMs(set: RuleSet, times: CommandTimes): number {
  let longest = 0;
  for (const r of set.rules) {
    for (const w of r.windows) longest = Math.max(longest, w.withinMs);
    for (const w of r.watches) if (w.type !== 'hysteresis') longest = Math.max(longest, w.forMs);
  }
  for (const p of Object.values(set.actuators)) longest = Math.max(longest, p.minOnMs, p.minOffMs);
  // sent, then `retries` resends, each wait twice the one before.
  const saga = times.confirmMs * (2 ** (times.retries + 1) - 1);
  return Math.max(longest, saga) + DRY_RUN_MARGIN_MS;
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
 * whoever recorded the items, so they fire live. `untilMs` may be a function (the live clock's
 * time, read as the replay goes). `beforeLive` runs last, still dry, on the manual clock (e.g.
 * adopting what the shared state says was really commanded). An error of `batches` or an item
 * is the caller's: the runtime goes live all the same, then it is thrown.
 */
export async function dryRun(o: {
  readonly runtime: RulesRuntime;
  readonly clock: ReplayClock;
  readonly fromMs: number;
  readonly untilMs: number | (() => number);
  readonly batches: AsyncIterable<readonly DryRunItem[]> | Iterable<readonly DryRunItem[]>;
  readonly beforeLive?: () => void | Promise<void>;
  /** Held-back commands whose re-run fell due in the replay and left no trace run again live (RulesRuntime.goLive). */
  readonly rerunHeldBack?: boolean;
}): Promise<DryRunResult> {
  const { runtime, clock } = o;
  const until = typeof o.untilMs === 'number' ? ((ms: number) => () => ms)(o.untilMs) : o.untilMs;
  runtime.dry = true;
  // Every timer set from here on is in replay time.
  const manual = clock.replayFrom(o.fromMs);
  let items = 0;
  try {
    for await (const batch of o.batches) {
      for (const item of batch) {
        await advance(manual, runtime, Math.min(item.atMs, until()));
        await item.apply();
        items++;
      }
    }
  } finally {
    // Timers due by the end fire in the dry run; the others go to the live clock at their due times.
    await advance(manual, runtime, Math.max(manual.now(), until()));
    try {
      await o.beforeLive?.();
    } finally {
      clock.goLive();
      runtime.goLive(o.rerunHeldBack);
    }
  }
  await runtime.idle();
  return { items, timers: runtime.wakeups.size };
}

/**
 * `batches` (in time order) with `extra` (in time order) merged in: an extra item goes before the
 * batches' items of its millisecond (what was committed then is what a reading of that time saw).
 */
export async function* mergeItems(batches: AsyncIterable<readonly DryRunItem[]>, extra: readonly DryRunItem[]): AsyncIterable<readonly DryRunItem[]> {
  let i = 0;
  for await (const batch of batches) {
    const out: DryRunItem[] = [];
    for (const item of batch) {
      while (i < extra.length && extra[i]!.atMs <= item.atMs) out.push(extra[i++]!);
      out.push(item);
    }
    yield out;
  }
  yield extra.slice(i);
}

async function advance(manual: ManualClock, runtime: RulesRuntime, to: number): Promise<void> {
  await runtime.idle();
  while (manual.fireNext(to)) await runtime.idle();
  manual.advanceTo(to);
}
