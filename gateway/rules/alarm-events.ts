import type { AlarmState, AlarmTransition, AlarmTransitionEvent, AlertData, AlertEvent } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import type { Alarm } from './alarm.js';
import { cloudEvent } from './cloud-event.js';

/** What an alarm becomes outside the book: its notification, its transition events, its view. */

/** An alarm as the API and the live page show it. */
export interface AlarmView extends AlarmState {
  readonly id: string;
  readonly state: 'active' | 'cleared';
  readonly clearedAt: number | undefined;
  /** Its rule is not loaded (at a start, or gone since): it clears once the rule is loaded again, or by an operator. */
  readonly ruleNotLoaded?: true;
}

/** The notification on `alerts/<site>/<severity>` (the contract's CloudEvent) for a raise or a repeat. */
export function alertOf(a: Alarm, correlationId: string, timeMs: number): AlertEvent {
  const data: AlertData = {
    severity: a.severity,
    message: a.message,
    site: a.site,
    zone: a.zone,
    device: a.reportedBy,
    ...(a.kind !== undefined ? { kind: a.kind } : {}),
    value: a.value,
    alarmId: a.id,
    count: a.count,
    ...(a.notifications > 1 ? { repeat: a.notifications - 1 } : {}),
  };
  const ce = cloudEvent(a.type, a.rule, `${a.site}/${a.zone}/${a.reportedBy}`, correlationId, data, timeMs);
  return { kind: 'alert', id: ce.id, timeMs, topic: `alerts/${a.site}/${a.severity}`, site: a.site, severity: a.severity, rule: a.rule, cloudEvent: ce, alarmId: a.id };
}

/** The fields an alarm shows as it stands (a transition's and a view's). */
function stateOf(a: Alarm): AlarmState {
  return {
    rule: a.rule,
    type: a.type,
    severity: a.severity,
    site: a.site,
    zone: a.zone,
    device: a.device,
    actuator: a.actuator,
    message: a.message,
    count: a.count,
    value: a.value,
    firstSeen: a.firstSeen,
    lastSeen: a.lastSeen,
    acknowledged: a.acknowledged,
    acknowledgedBy: a.acknowledgedBy,
    notifiedAt: a.notifiedAt,
    notifications: a.notifications,
  };
}

/** A transition, carrying the whole alarm as it stands after it. */
export function transitionOf(a: Alarm, transition: AlarmTransition, correlationId: string, reason: string | undefined, active: boolean, timeMs: number): AlarmTransitionEvent {
  return {
    id: newEventId(),
    alarmId: a.id,
    transition,
    ...stateOf(a),
    active,
    correlationId,
    reason,
    facts: transition === 'raised' || transition === 'updated' ? a.facts : undefined,
    time: new Date(timeMs).toISOString(),
    timeMs,
  };
}

export function viewOf(a: Alarm, active: boolean): AlarmView {
  return { id: a.id, state: active ? 'active' : 'cleared', ...stateOf(a), clearedAt: a.clearedAt, ...(active && a.withoutRule === true ? { ruleNotLoaded: true as const } : {}) };
}
