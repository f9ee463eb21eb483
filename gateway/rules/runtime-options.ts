import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { AlarmTransitionEvent, CommandEvent, CommandStatusEvent, ReadingEvent } from '../core/events.js';
import type { Kind } from '../core/kinds.js';
import { ACTUATOR_UNRESPONSIVE, MANUAL_OVERRIDE, type Outcome, type Suppression } from './actions.js';
import type { Alarm, AlarmTimes } from './alarm.js';
import type { Forgotten, OnForget, Refused, RuleBounds } from './bounds.js';

export type { OnForget };
import type { Firing, RulesEngine } from './engine.js';
import type { ActuatorAvailability, ExpectedReport } from './saga.js';

/* The rules runtime's ports and limits (rules/runtime.ts): what wakes it, whom it reports to, its times. */

/**
 * What a clock timer wakes: the rules of a watch for one device/zone/site, a deferred command, an
 * alarm's quiet period, or a command's confirmation time.
 */
export type Wake =
  | { readonly type: 'watch'; readonly watchId: string; readonly key: string }
  | { readonly type: 'retry'; readonly target: string; readonly source: string; readonly kind: Kind; readonly watchId: string | undefined }
  | { readonly type: 'alarm'; readonly alarmId: string }
  | { readonly type: 'confirm'; readonly target: string };

/** Counters the runtime reports to (the service maps them to /metrics). */
export interface RuntimeObserver {
  fired?(rule: string): void;
  suppressed?(s: Suppression): void;
  woke?(type: Wake['type']): void;
  failed?(): void;
  /** A reading was stored and recorded but not run through the rules: they were too far behind. */
  overloaded?(): void;
  /** The rules' cache of which rules serve which device filled (`routes` entries) and was started afresh. */
  routesReset?(routes: number): void;
  /** A device, zone, series or watched key was forgotten past its bound (rules/bounds.ts): a flood of made-up ids. */
  forgot?(what: Forgotten, bound: number): void;
  /** A new actuator, report, saga or alarm was refused past its bound: everything remembered still matters (rules/bounds.ts). */
  refused?(what: Refused, bound: number): void;
  /** A run that fired something (the trace): its reading, what woke it, the firings and what came of them. */
  ran?(reading: ReadingEvent, wake: Wake | undefined, firings: readonly Firing[], outcomes: readonly Outcome[], suppressed: readonly Suppression[], at: number): void;
}

/** The command sagas' times (settings COMMAND_CONFIRM_MS, COMMAND_RETRIES, MANUAL_HOLD_MS). */
export interface CommandTimes {
  readonly confirmMs: number;
  readonly retries: number;
  readonly holdMs: number;
}

/** The sagas' times, and what confirms a command to an actuator that reports in other terms than the rules command in. */
export interface CommandSettings extends CommandTimes {
  readonly expectedReport?: ExpectedReport;
  readonly availability?: ActuatorAvailability;
}

export const DEFAULT_COMMAND_TIMES: CommandTimes = { confirmMs: 10_000, retries: 2, holdMs: 30 * 60_000 };

/**
 * How many readings may wait for the rules. Past it a reading is still stored and recorded
 * (windows, held-for and absence stay right) but not run: ingest never waits for the rules, and
 * their queue cannot grow without bound under a flood.
 */
export const MAX_RULES_BACKLOG = 20_000;

export interface RuntimeOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Where armed zones are remembered across restarts. */
  readonly armedFile?: string;
  /** Every command and alert the rules produce, in order. */
  readonly onOutcome: (outcome: Outcome) => void;
  readonly observer?: RuntimeObserver;
  /** Every alarm transition (`persist` false: an update not worth a stored point). */
  readonly onAlarm?: (t: AlarmTransitionEvent, persist: boolean) => void;
  /** Every step of a command's saga. */
  readonly onStatus?: (s: CommandStatusEvent) => void;
  /** Publish a command again (a saga's retry). */
  readonly resend?: (c: CommandEvent, attempt: number) => void;
  readonly commands?: CommandSettings;
  /** How many devices, zones, actuators and active alarms the rules remember (default RULE_BOUNDS). */
  readonly bounds?: Partial<RuleBounds>;
}

/** The times of an alarm: the gateway's own (manual override, unresponsive actuator), or its rule's in force; undefined: the defaults. */
export function alarmTimesOf(rule: string, times: CommandTimes, engine: Pick<RulesEngine, 'rule'>): AlarmTimes | undefined {
  if (rule === MANUAL_OVERRIDE) return { repeatMs: Number.POSITIVE_INFINITY, clearAfterMs: times.holdMs };
  if (rule === ACTUATOR_UNRESPONSIVE) return { repeatMs: Number.POSITIVE_INFINITY, clearAfterMs: undefined };
  const alarm = engine.rule(rule)?.alarm;
  return alarm && { repeatMs: alarm.repeatMs, clearAfterMs: alarm.clearAfterMs };
}

/** Said once per alarm: at a rebuild, or when the rules in force change while it is active (AlarmBook.rulesChanged). */
export function warnAlarmWithoutRule(a: Alarm, log: Logger, why = 'removed or renamed, or its pack deleted'): void {
  log.warn({ alarmId: a.id, rule: a.rule, site: a.site, zone: a.zone, device: a.device, severity: a.severity }, `alarm ${a.id} (${a.rule}, ${a.site}/${a.zone}) stays active: its rule is not loaded (${why}); it clears by that rule once it is loaded again, or acknowledge it with "clear": true`);
}
