import type { AlarmTransitionEvent, CommandEvent } from '../core/events.js';
import { transitionOf } from './alarm-events.js';
import type { DryRunItem } from './dry-run.js';
import type { RulesRuntime } from './runtime.js';

/**
 * The rules' state that outlives the process ruling it: in a cluster it lives in Redis, one hash
 * per partition, written only with the partition's fencing token (cluster/redis-keys.ts' `commit`),
 * and a node taking a partition over starts from it. Each kind of state is one variant of
 * `StateChange`, stored as one field per target (a change without a value deletes the field):
 *
 * - `actuator`: what the rules hold an actuator to be doing (forgotten after a failed command);
 * - `armed`: a zone's armed state;
 * - `alarm`: an active alarm, as its last transition (issue 11; an update not worth a stored point
 *   too, riding along with the next commit, so that it is the alarm as of the cursor; deleted once
 *   cleared, so a cleared alarm is not known to the next owner: a late acknowledgement of it is refused there);
 * - `saga`: a command waiting for its actuator's confirmation (the command, the resends so far,
 *   when it is due); `report`: the last state an actuator reported (which makes it tracked).
 */

export interface SharedActuator {
  /** The last command's data (or the state adopted from a report). */
  readonly data: Readonly<Record<string, unknown>>;
  /** Epoch ms it was commanded (minimum on/off times count from it). */
  readonly changedAt: number;
  /** The command that set it; absent when adopted from what the actuator reported. */
  readonly commandId?: string | undefined;
  readonly rule?: string | undefined;
}

export interface SharedSaga {
  readonly command: CommandEvent;
  readonly attempt: number;
  readonly sentAt: number;
  readonly dueAt: number;
}

export interface SharedReport {
  readonly state: Readonly<Record<string, unknown>>;
  readonly at: number;
  readonly device: string;
}

export type StateChange =
  | { readonly type: 'actuator'; readonly target: string; readonly actuator: SharedActuator | undefined }
  | { readonly type: 'armed'; readonly zone: string; readonly armed: boolean | undefined }
  | { readonly type: 'alarm'; readonly alarmId: string; readonly transition: AlarmTransitionEvent | undefined }
  | { readonly type: 'saga'; readonly target: string; readonly saga: SharedSaga | undefined }
  | { readonly type: 'report'; readonly target: string; readonly report: SharedReport | undefined };

export interface RuleStateSnapshot {
  /** `site/zone/actuator` → what it is held to be doing. */
  readonly actuators: ReadonlyMap<string, SharedActuator>;
  /** `site/zone` → armed. */
  readonly armed: ReadonlyMap<string, boolean>;
  /** alarm id → its last transition (active alarms only). */
  readonly alarms: ReadonlyMap<string, AlarmTransitionEvent>;
  readonly sagas: ReadonlyMap<string, SharedSaga>;
  readonly reports: ReadonlyMap<string, SharedReport>;
}

const PREFIX: { readonly [K in StateChange['type']]: string } = { actuator: 'act|', armed: 'armed|', alarm: 'alarm|', saga: 'saga|', report: 'rep|' };

const json = (v: unknown): string | undefined => (v === undefined ? undefined : JSON.stringify(v));

/** The hash field a change writes, and its value (undefined: the field is deleted). */
export function encodeChange(c: StateChange): [field: string, value: string | undefined] {
  switch (c.type) {
    case 'actuator':
      return [PREFIX.actuator + c.target, json(c.actuator)];
    case 'armed':
      return [PREFIX.armed + c.zone, c.armed === undefined ? undefined : c.armed ? '1' : '0'];
    case 'alarm':
      return [PREFIX.alarm + c.alarmId, json(c.transition)];
    case 'saga':
      return [PREFIX.saga + c.target, json(c.saga)];
    case 'report':
      return [PREFIX.report + c.target, json(c.report)];
  }
}

/** A partition's hash back as the state it holds (fields it does not know, or cannot read, are left alone). */
export function decodeSnapshot(hash: Readonly<Record<string, string>>): RuleStateSnapshot {
  const actuators = new Map<string, SharedActuator>();
  const armed = new Map<string, boolean>();
  const alarms = new Map<string, AlarmTransitionEvent>();
  const sagas = new Map<string, SharedSaga>();
  const reports = new Map<string, SharedReport>();
  const into = <T>(map: Map<string, T>, key: string, value: string): void => {
    try {
      map.set(key, JSON.parse(value) as T);
    } catch {
      // A damaged field is as if it had never been written.
    }
  };
  for (const [field, value] of Object.entries(hash)) {
    const bar = field.indexOf('|');
    const prefix = field.slice(0, bar + 1);
    const key = field.slice(bar + 1);
    if (prefix === PREFIX.actuator) into(actuators, key, value);
    else if (prefix === PREFIX.armed) armed.set(key, value === '1');
    else if (prefix === PREFIX.alarm) into(alarms, key, value);
    else if (prefix === PREFIX.saga) into(sagas, key, value);
    else if (prefix === PREFIX.report) into(reports, key, value);
  }
  return { actuators, armed, alarms, sagas, reports };
}

/** The changes that bring the shared state of these actuators (`site/zone/actuator`) to what the runtime holds now. */
export function actuatorChanges(runtime: RulesRuntime, targets: Iterable<string>): StateChange[] {
  const changes: StateChange[] = [];
  for (const target of targets) {
    const a = runtime.dispatcher.current(target);
    // An unknown time (-Infinity: adopted from a report) is written as null and read back as unknown.
    const actuator = a && { data: a.data, changedAt: a.changedAt, commandId: a.commandId, rule: a.rule };
    changes.push({ type: 'actuator', target, actuator }, { type: 'saga', target, saga: runtime.commands.saga(target) }, { type: 'report', target, report: runtime.commands.lastReport(target) });
  }
  return changes;
}

/**
 * Everything the runtime holds that the shared state keeps, as changes (a partition rebuilt from the
 * history, whose shared state was lost): armed zones, active alarms as they stand now, and every
 * actuator it knows (commanded, waited for, reported), for `actuatorChanges` at the commit.
 */
export function wholeState(runtime: RulesRuntime, now: number): { changes: StateChange[]; actuators: Set<string> } {
  const changes: StateChange[] = runtime.state.armedStates().map(({ site, zone, armed }) => ({ type: 'armed', zone: `${site}/${zone}`, armed }));
  for (const a of runtime.alarms.active()) changes.push({ type: 'alarm', alarmId: a.id, transition: transitionOf(a, 'updated', a.lastCorrelationId, undefined, true, now) });
  const { sagas, reported } = runtime.commands.memory;
  return { changes, actuators: new Set([...runtime.dispatcher.all().keys(), ...sagas.keys(), ...reported.keys()]) };
}

/**
 * A takeover, before the replay: the active alarms as the shared state has them (the replay's
 * firings see them; their counts and times are the shared state's again in `adoptSnapshot`).
 */
export function restoreAlarms(runtime: RulesRuntime, snapshot: RuleStateSnapshot): void {
  for (const t of snapshot.alarms.values()) runtime.restore({ type: 'alarm', event: t });
}

/**
 * A takeover, during the replay: each actuator as the shared state has it, from the time it was
 * commanded (`fromMs` when earlier or unknown), in time order. A reading replayed within its
 * minimum on/off time is then held back as it was on the last owner, and its re-run at the end
 * of that time is set again: due after the watermark, it fires here (the last owner's timer died
 * with it). Before that time the actuator is unknown to the replay, as it was before.
 */
export function actuatorRestores(runtime: RulesRuntime, snapshot: RuleStateSnapshot, fromMs: number): DryRunItem[] {
  const items: DryRunItem[] = [];
  for (const [target, a] of snapshot.actuators) {
    const atMs = typeof a.changedAt === 'number' ? Math.max(fromMs, a.changedAt) : fromMs;
    items.push({ atMs, apply: () => runtime.dispatcher.restoreShared(target, a) });
  }
  return items.sort((x, y) => x.atMs - y.atMs);
}

/**
 * A takeover, after the replay and before going live: what the last owner committed is the
 * truth of what was commanded, reported, waited for and armed, and of the active alarms' counts
 * and times: the replayed window's firings are counted in them already (the window starts before
 * the cursor the shared state stands at), so the replay's counting is dropped.
 */
export function adoptSnapshot(runtime: RulesRuntime, snapshot: RuleStateSnapshot): void {
  for (const t of snapshot.alarms.values()) runtime.alarms.adopt(t);
  runtime.dispatcher.replaceAll(snapshot.actuators);
  const targets = new Set([...snapshot.sagas.keys(), ...snapshot.reports.keys()]);
  for (const target of targets) runtime.commands.adopt(target, snapshot.sagas.get(target), snapshot.reports.get(target));
  for (const [zone, armed] of snapshot.armed) {
    const [site = '', z = ''] = zone.split('/');
    void runtime.state.setArmed(site, z, armed);
  }
}
