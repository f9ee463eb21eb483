import type { Logger } from 'pino';
import { GatewayError, logError, logWarn } from '../core/errors.js';
import type { ActuatorStateEvent, ReadingEvent } from '../core/events.js';
import type { DeviceHistoryItem, History, HistoryItem, HistoryType } from '../core/history.js';
import type { ReplayClock } from '../core/replay-clock.js';
import { ACTUATOR_UNRESPONSIVE, MANUAL_OVERRIDE } from './actions.js';
import { DRY_RUN_MARGIN_MS, dryRun, lookbackMs, type DryRunItem } from './dry-run.js';
import type { CommandTimes, RulesRuntime } from './runtime.js';
import { warnAlarmWithoutRule } from './runtime-options.js';
import { actuatorRestores, adoptSnapshot, restoreAlarms } from './shared-state.js';
import type { LocalSnapshot } from './state-file.js';

/**
 * The rules' state, rebuilt the event-sourced way when the gateway starts: what stood before the
 * window (each actuator's last command and report, armed zones, alarms not cleared), then the
 * stored events of the window — readings, commands, reports, saga steps, alarm transitions,
 * armed zones — in time order through the live rules runtime, on a manual clock, as a dry run
 * (nothing is published or stored). Windows, held-for and absence timers, minimum on/off times
 * and sagas come out as they were; timers still pending move to the live clock at their due times.
 * Stored commands and transitions are the ground truth of what was commanded and raised. The
 * replay itself is rules/dry-run.ts, as a cluster node's takeover of a partition.
 */

/** Read this much more than the longest duration, so a timer that started just before it is seen start. */
export const REBUILD_MARGIN_MS = DRY_RUN_MARGIN_MS;
export { lookbackMs };

export interface RebuildOptions {
  readonly history: History;
  readonly runtime: RulesRuntime;
  readonly clock: ReplayClock;
  /** The live clock's time. */
  readonly now: () => number;
  readonly log: Logger;
  /** How long to wait for the spool to drain into the database first. */
  readonly waitMs: number;
  readonly commandTimes: CommandTimes;
  /** Sees each device status and silence read (the last before the window, then the window's), in time order. */
  readonly onDevice?: (item: DeviceHistoryItem) => void;
  /** Sees each reading of the window, before the rules do. */
  readonly onReading?: (event: ReadingEvent) => void;
  /** Sees each actuator report read (the last before the window, then the window's), before the rules do: what a native device is, for their sagas. */
  readonly onReport?: (event: ActuatorStateEvent) => void;
  /** No armed-zones file stands beside the history (a cluster partition's rebuild): the armed zones read are taken even when the spool had not drained, and a history that cannot be read is said by the caller (cluster/history-seed.ts tries again). */
  readonly noArmedFile?: boolean;
  /** The local snapshot (DATA_DIR/rules-state.json), read only when the history cannot be. */
  readonly snapshot?: () => Promise<LocalSnapshot | undefined>;
}

export interface RebuildResult {
  readonly ok: boolean;
  /** Why it could not read the history (ok false). */
  readonly problem?: string;
  /** False when the spool had not drained when the wait was over: the latest events may be missing. */
  readonly caughtUp: boolean;
  readonly fromMs: number;
  readonly toMs: number;
  readonly tookMs: number;
  /** Stored events replayed, by type (readings by kind too). */
  readonly counts: Readonly<Record<string, number>>;
  /** Alarms active, command sagas waiting and rule timers pending once live. */
  readonly alarms: number;
  readonly sagas: number;
  readonly timers: number;
  readonly actuators: number;
  /** The local snapshot the rules started from, the history being unreadable. */
  readonly snapshot?: Omit<LocalSnapshot, 'state'>;
}

/** How often a long rebuild says how far it is. */
const PROGRESS_EVERY_MS = 5_000;

const TYPES: readonly HistoryType[] = ['reading', 'zoneArmed', 'command', 'actuatorState', 'commandStatus', 'alarm', 'deviceStatus', 'deviceSilence'];

/**
 * Said once per rebuild (a start, a cluster partition taken over): the active alarms restored
 * without their rule, for which no quiet time is guessed (alarm.ts' alarmOfTransition).
 */
export function warnAlarmsWithoutRule(runtime: Pick<RulesRuntime, 'alarms'>, log: Logger): void {
  for (const a of runtime.alarms.active()) if (a.withoutRule === true) warnAlarmWithoutRule(a, log, 'its pack deleted, or rejected with no kept copy');
}

/**
 * A snapshot taken before the rules' window (a gateway stopped for days): its commands waiting for
 * a confirmation are not restored, as a rebuild from the history would not bring them back either
 * (else a week-old command would be resent and end in an actuator_unresponsive alarm). Its active
 * alarms and what each actuator is held to be doing stand whatever their age, as in the history.
 */
function withinWindow(s: LocalSnapshot | undefined, fromMs: number, log: Logger): LocalSnapshot | undefined {
  if (!s || s.savedAt >= fromMs || s.sagas === 0) return s;
  log.info({ snapshotOf: new Date(s.savedAt).toISOString(), sagas: s.sagas }, `the local snapshot is older than the rules' window: its ${s.sagas} commands waiting for a confirmation are not restored`);
  return { ...s, sagas: 0, state: { ...s.state, sagas: new Map() } };
}

export async function rebuild(o: RebuildOptions): Promise<RebuildResult> {
  const { runtime, clock, log, history } = o;
  const started = performance.now();
  const counts: Record<string, number> = {};
  const count = (what: string): void => void (counts[what] = (counts[what] ?? 0) + 1);
  const lookback = lookbackMs(runtime.rules, o.commandTimes);
  const drain = await history.caughtUp(o.waitMs);
  const caughtUp = drain === 'drained';
  const armedOk = caughtUp || o.noArmedFile === true;
  if (drain === 'late') logWarn(log, 'GW_ERR_HISTORY', { waitedMs: o.waitMs, history: history.description }, 'the spool had not drained into InfluxDB in time: the rules rebuild from what InfluxDB has (the latest events may be missing)');
  const toMs = o.now();
  const fromMs = toMs - lookback;
  let problem: string | undefined;
  let restored: LocalSnapshot | undefined;
  const apply = async (item: HistoryItem, armed: boolean): Promise<void> => {
    switch (item.type) {
      case 'reading':
        count('readings');
        count(`reading.${item.event.kind}`);
        o.onReading?.(item.event);
        runtime.onReading(item.event);
        return runtime.idle();
      case 'zoneArmed':
        count('zoneArmed');
        // Unless the spool drained, the armed-zones file may be newer than InfluxDB.
        if (armed) await runtime.state.setArmed(item.event.site, item.event.zone, item.event.armed);
        return;
      case 'actuatorState':
        count('actuatorState');
        o.onReport?.(item.event);
        return runtime.commands.report(item.event);
      case 'command':
      case 'commandStatus':
      case 'alarm':
        count(item.type);
        return runtime.restore(item);
      case 'deviceStatus':
        count('deviceStatus');
        o.onDevice?.(item);
        // A device that said offline is away, not silent (rules/watches.ts).
        runtime.onDeviceStatus(item.event);
        return runtime.idle();
      case 'deviceSilence':
        count('deviceSilence');
        return o.onDevice?.(item);
      case 'alert':
        return;
    }
  };
  // What stood before the window, then the window, as the dry run's items; a history that cannot
  // be read ends them (the rules go live with what they have).
  async function* items(): AsyncIterable<readonly DryRunItem[]> {
    try {
      // Neither the drain nor a query is waited for: the broker listens now, the rules without their history.
      if (drain === 'down') throw new GatewayError('GW_ERR_INFLUX_UNREACHABLE', `${history.description}: does not answer (refused, or no answer to a ping): the rules did not wait for the spool to drain, nor read`);
      const before: DryRunItem[] = [];
      // Without sagas (they are over by then), without cleared alarms.
      for (const item of await history.latestBefore(fromMs)) {
        if (item.type === 'alarm' && !item.event.active) continue;
        before.push({ atMs: fromMs, apply: () => (item.type === 'command' ? runtime.dispatcher.restore(item.event) : apply(item, armedOk)) });
      }
      yield before;
      yield [{ atMs: fromMs, apply: () => actuatorAlarms(runtime) }];
      // A long rebuild holds the broker back: say every few seconds how far it is.
      let read = 0;
      let said = performance.now();
      for await (const page of history.read({ fromMs, toMs, types: TYPES })) {
        read += page.length;
        const at = page.at(-1)?.event.timeMs;
        if (at !== undefined && performance.now() - said >= PROGRESS_EVERY_MS) {
          said = performance.now();
          log.info({ read, at: new Date(at).toISOString(), from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), percent: Math.round(((at - fromMs) / Math.max(1, toMs - fromMs)) * 100) }, `rules rebuild: ${read} stored events read so far, at ${new Date(at).toISOString()} of the window (the broker listens once it is done)`);
        }
        yield page.map((item) => ({ atMs: item.event.timeMs, apply: () => apply(item, armedOk) }));
      }
    } catch (err) {
      problem = (err as Error).message;
      restored = withinWindow(await o.snapshot?.(), fromMs, log);
      const fields = { err: problem, history: history.description, ...(restored ? { snapshotOf: new Date(restored.savedAt).toISOString() } : {}) };
      const message = restored
        ? `the rules could not read their history: they start from their local snapshot of ${new Date(restored.savedAt).toISOString()} (DATA_DIR/rules-state.json) and the armed zones of the armed-zones file`
        : 'the rules could not read their history: they start with the armed zones of the armed-zones file only';
      // InfluxDB away is already said (GW_ERR_INFLUX_UNREACHABLE, GW_ERR_INFLUX_NOT_INSTALLED): this is one consequence of it.
      if (o.noArmedFile === true) log.debug(fields, 'the rules could not read their history');
      else if (err instanceof GatewayError && err.code === 'GW_ERR_INFLUX_UNREACHABLE') logWarn(log, 'GW_ERR_HISTORY', fields, message);
      else logError(log, 'GW_ERR_HISTORY', fields, message);
    }
    // What the rules knew when the snapshot was taken, restored as a cluster's takeover restores its partition's shared state.
    if (restored) {
      const { state } = restored;
      yield [{ atMs: fromMs, apply: () => restoreAlarms(runtime, state) }];
      yield actuatorRestores(runtime, state, fromMs);
    }
  }
  // Every timer set from here on is in replay time, including those of what stood before the window.
  // No watermark says which timers fired before the restart: a held-back command's re-run that
  // fell due in the window and left no stored command may have fallen due while the gateway was away.
  await dryRun({ runtime, clock, fromMs, untilMs: () => o.now(), batches: items(), rerunHeldBack: true, beforeLive: () => restored && adoptSnapshot(runtime, restored.state) });
  warnAlarmsWithoutRule(runtime, log);
  const result: RebuildResult = {
    ok: problem === undefined,
    ...(problem !== undefined ? { problem } : {}),
    caughtUp,
    fromMs,
    toMs,
    tookMs: Math.round(performance.now() - started),
    counts,
    alarms: runtime.alarms.size,
    sagas: runtime.commands.pending,
    timers: runtime.wakeups.size,
    actuators: runtime.dispatcher.all().size,
    ...(restored ? { snapshot: { savedAt: restored.savedAt, alarms: restored.alarms, sagas: restored.sagas, actuators: restored.actuators } } : {}),
  };
  if (result.ok) {
    log.info(
      { ...result, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), spanMs: toMs - fromMs },
      `rules state rebuilt from ${Math.round((toMs - fromMs) / 60_000)} min of history in ${result.tookMs} ms: ${counts['readings'] ?? 0} readings, ${counts['command'] ?? 0} commands, ${result.alarms} alarms active, ${result.timers} timers pending`,
    );
  } else if (restored) log.info({ ...result, snapshotOf: new Date(restored.savedAt).toISOString() }, `rules state restored from the local snapshot of ${new Date(restored.savedAt).toISOString()}: ${result.alarms} alarms active, ${result.sagas} commands waiting, ${result.actuators} actuators`);
  return result;
}

/**
 * /readyz's word on a start that could not read the history: where the rules started from and,
 * once InfluxDB answers again, what a restart would add (not the reason it could not be read then).
 */
export function startedWithoutHistory(r: RebuildResult, influxUp: boolean): string {
  const snapshot = r.snapshot && `the local snapshot of ${new Date(r.snapshot.savedAt).toISOString()} (DATA_DIR/rules-state.json: ${r.snapshot.alarms} alarms active, ${r.snapshot.sagas} commands waiting, ${r.snapshot.actuators} actuators)`;
  if (!influxUp) return `started without history (GW_ERR_HISTORY): ${r.problem ?? 'InfluxDB could not be read'}${snapshot ? `; from ${snapshot} instead` : ''}`;
  const back = '(GW_ERR_HISTORY: InfluxDB could not be read at the start; it answers now)';
  if (snapshot) return `started from ${snapshot} ${back}: sliding windows, held-for and absence timers started afresh, and what changed after the snapshot was taken is not known; a restart rebuilds them from the history`;
  return `started without history ${back}: the active alarms, commands waiting, actuator states and timers from before the start are not known; a restart rebuilds them from the history`;
}

/** An actuator alarm still active says what its last command does not: unknown, or set by hand. */
function actuatorAlarms(runtime: RulesRuntime): void {
  for (const a of runtime.alarms.active()) {
    if (!a.actuator) continue;
    const target = `${a.site}/${a.zone}/${a.actuator}`;
    const current = runtime.dispatcher.current(target);
    if (current && current.changedAt > a.lastSeen) continue;
    if (a.rule === ACTUATOR_UNRESPONSIVE) runtime.dispatcher.forget(target);
    else if (a.rule === MANUAL_OVERRIDE && typeof a.value === 'object' && a.value !== null) runtime.dispatcher.adopt(target, a.value as Record<string, unknown>, a.lastSeen);
  }
}
