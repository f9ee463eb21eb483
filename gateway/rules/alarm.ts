import type { Clock } from '../core/clock.js';
import type { AlarmTransitionEvent, DecidingFact, Severity } from '../core/events.js';
import type { OnRefuse } from './bounds.js';
import { DEFAULT_REPEAT_MS } from './pack.js';

/** An alarm as the book keeps it, and how a stored transition becomes one again (rebuild). */

export interface AlarmSubject {
  readonly rule: string;
  /** The alert type (`safety.smoke`). */
  readonly type: string;
  readonly severity: Severity;
  readonly site: string;
  readonly zone: string;
  readonly device?: string | undefined;
  readonly actuator?: string | undefined;
}

/** How often it may notify again; how long without a firing clears it (undefined: only an explicit clear). */
export interface AlarmTimes {
  readonly repeatMs: number;
  readonly clearAfterMs: number | undefined;
}

/** What one firing tells its alarm. */
export interface Occurrence {
  readonly message: string;
  readonly value: unknown;
  /** The reading's kind and device, for the notification. */
  readonly kind: string | undefined;
  readonly device: string;
  readonly correlationId: string;
  readonly facts?: readonly DecidingFact[] | undefined;
}

export interface Alarm extends AlarmSubject {
  readonly id: string;
  readonly key: string;
  times: AlarmTimes;
  message: string;
  value: unknown;
  kind: string | undefined;
  reportedBy: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
  acknowledged: boolean;
  acknowledgedBy: string | undefined;
  notifiedAt: number;
  notifications: number;
  /** The reading that raised it. */
  correlationId: string;
  lastCorrelationId: string;
  facts: readonly DecidingFact[] | undefined;
  clearedAt: number | undefined;
  clearReason: string | undefined;
  /** When its last transition was stored (updates are stored at most every UPDATE_STORE_MS). */
  storedAt: number;
  /** Its quiet period ran out during a rebuild: cleared when going live. */
  overdue: boolean;
  /** Its rule is not loaded (restored without it, see `alarmOfTransition`, or gone since): it takes the rule's times once it is. */
  withoutRule?: boolean;
}

export const keyOf = (s: Omit<AlarmSubject, 'type' | 'severity'>): string => `${s.rule}|${s.site}|${s.zone}|${s.device ?? ''}|${s.actuator ?? ''}`;

export function pick(s: AlarmSubject): AlarmSubject {
  return { rule: s.rule, type: s.type, severity: s.severity, site: s.site, zone: s.zone, device: s.device, actuator: s.actuator };
}

/**
 * An alarm known only from its stored transition (the first one a rebuild meets), with the times of
 * its rule in force. Without its rule (its pack deleted, or rejected with no kept copy), how it clears
 * is unknown: no quiet time is guessed (a default one would clear an active smoke alarm its detector
 * never cleared); it stays active until its rule is loaded again, or an operator clears it.
 */
export function alarmOfTransition(t: AlarmTransitionEvent, times: AlarmTimes | undefined): Alarm {
  const subject = { rule: t.rule, type: t.type, severity: t.severity, site: t.site, zone: t.zone, device: t.device, actuator: t.actuator };
  return {
    ...pick(subject),
    id: t.alarmId,
    key: keyOf(subject),
    times: times ?? { repeatMs: DEFAULT_REPEAT_MS[t.severity], clearAfterMs: undefined },
    withoutRule: times === undefined,
    message: t.message,
    value: t.value,
    kind: undefined,
    reportedBy: t.device ?? '',
    count: t.count,
    firstSeen: t.firstSeen,
    lastSeen: t.lastSeen,
    acknowledged: t.acknowledged,
    acknowledgedBy: t.acknowledgedBy,
    notifiedAt: t.notifiedAt,
    notifications: t.notifications,
    correlationId: t.correlationId,
    lastCorrelationId: t.correlationId,
    facts: t.facts,
    clearedAt: undefined,
    clearReason: undefined,
    storedAt: t.timeMs,
    overdue: false,
  };
}

/**
 * A cluster takeover, after its replay: the shared state's transition is the alarm as it stood at
 * the cursor, the replayed firings already counted in it (counts and times are set, not merged).
 */
export function adoptTransition(a: Alarm, t: AlarmTransitionEvent): void {
  a.count = t.count;
  a.lastSeen = t.lastSeen;
  a.notifiedAt = t.notifiedAt;
  a.notifications = t.notifications;
  a.acknowledged = t.acknowledged;
  a.acknowledgedBy = t.acknowledgedBy;
  a.message = t.message;
  a.value = t.value;
  if (t.facts) a.facts = t.facts;
  if (t.transition !== 'acknowledged') a.lastCorrelationId = t.correlationId;
}

/** A later stored transition of an alarm already rebuilt: counts and times only move forward. */
export function mergeTransition(a: Alarm, t: AlarmTransitionEvent): void {
  a.count = Math.max(a.count, t.count);
  a.lastSeen = Math.max(a.lastSeen, t.lastSeen);
  a.notifiedAt = Math.max(a.notifiedAt, t.notifiedAt);
  a.notifications = Math.max(a.notifications, t.notifications);
  a.acknowledged ||= t.acknowledged;
  a.acknowledgedBy = a.acknowledgedBy ?? t.acknowledgedBy;
  a.message = t.message;
  a.value = t.value;
  a.storedAt = t.timeMs;
  if (t.facts) a.facts = t.facts;
}

/** What the alarm book (alarms.ts) is given. */
export interface AlarmBookOptions {
  readonly clock: Clock;
  /** Every transition; `persist` is false for an update that is not worth its own point. */
  readonly onTransition: (t: AlarmTransitionEvent, persist: boolean) => void;
  /** Wake `quiet(alarmId)` at `at` (undefined: not needed any more). */
  readonly schedule: (alarmId: string, at: number | undefined) => void;
  /** The times of a rule in force, or of one of the gateway's own alarms; undefined: the defaults. */
  readonly timesOf: (rule: string) => AlarmTimes | undefined;
  /** Cleared alarms remembered (for a late acknowledgement and the trace). */
  readonly keepCleared?: number;
  /** Active alarms at most (rules/bounds.ts): none is dropped, a new one past it is refused (`refused`). */
  readonly bound?: number;
  readonly refused?: OnRefuse;
}
