import { BoundedMap } from '../core/bounded-map.js';
import type { AlarmTransition, AlarmTransitionEvent, AlertEvent } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import { adoptTransition, alarmOfTransition, keyOf, mergeTransition, pick, type Alarm, type AlarmBookOptions, type AlarmSubject, type AlarmTimes, type Occurrence } from './alarm.js';
import { alertOf, transitionOf, viewOf, type AlarmView } from './alarm-events.js';
import { ClearConditionIndex } from './alarm-clear-index.js';
import { RULE_BOUNDS } from './bounds.js';

export type { AlarmView } from './alarm-events.js';
export type { Alarm, AlarmBookOptions, AlarmSubject, AlarmTimes, Occurrence } from './alarm.js';

/**
 * Alarms, not alert floods (Alertmanager's grouping and repeat interval, ThingsBoard's
 * active/cleared × acknowledged lifecycle). A firing of an alert rule belongs to the alarm of its
 * rule + site + zone (+ device for a rule per device, + actuator for the gateway's own actuator
 * alarms): the first raises it (a notification on `alerts/…`), the next ones update it (count,
 * last value, last seen) and notify again at most every `repeatMs`, until it is acknowledged; it
 * is cleared when its clear condition holds, or after `clearAfterMs` without a firing.
 *
 * While the rules rebuild their state (`dry`), nothing is raised, cleared or notified: stored
 * transitions (`restore`) say what happened, and replayed firings only bring an alarm's count and
 * last seen up to date; a quiet period that ran out meanwhile clears the alarm when going live.
 * An alarm restored without its rule in force, or whose rule goes while it is active, waits for it (alarm.ts' `alarmOfTransition`, `rulesChanged`).
 */

/** An update of an alarm becomes a stored point at most this often (raises, repeats, acks and clears always do). */
export const UPDATE_STORE_MS = 10_000;

export class AlarmBook {
  /** Replaying history: no transitions, no notifications (see the class comment). */
  dry = false;
  /** During a rebuild: per alarm, the reading its last restored transition already counted. */
  private readonly countedByRestore = new Map<string, string>();
  private readonly byKey = new Map<string, Alarm>();
  private readonly activeById = new Map<string, Alarm>();
  private readonly cleared: BoundedMap<string, Alarm>;
  private readonly explicit = new ClearConditionIndex();

  constructor(private readonly o: AlarmBookOptions) {
    this.cleared = new BoundedMap(o.keepCleared ?? 1000);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** A firing: raises the alarm or updates it; says whether to notify now. */
  fire(subject: AlarmSubject, times: AlarmTimes, occ: Occurrence): { alarm: Alarm | undefined; notify: 'raised' | 'repeat' | undefined } {
    const now = this.o.clock.now();
    const key = keyOf(subject);
    const a = this.byKey.get(key);
    if (!a) {
      if (this.dry || this.full()) return { alarm: undefined, notify: undefined };
      const alarm: Alarm = {
        ...pick(subject),
        id: newEventId(),
        key,
        times,
        message: occ.message,
        value: occ.value,
        kind: occ.kind,
        reportedBy: occ.device,
        count: 1,
        firstSeen: now,
        lastSeen: now,
        acknowledged: false,
        acknowledgedBy: undefined,
        notifiedAt: now,
        notifications: 1,
        correlationId: occ.correlationId,
        lastCorrelationId: occ.correlationId,
        facts: occ.facts,
        clearedAt: undefined,
        clearReason: undefined,
        storedAt: now,
        overdue: false,
      };
      this.activate(alarm);
      this.emit('raised', alarm, occ.correlationId, true, undefined);
      return { alarm, notify: 'raised' };
    }
    a.times = times;
    // A reading stored after the transition it caused (a device clock ahead) was counted by it.
    const counted = this.dry && this.countedByRestore.get(a.id) === occ.correlationId;
    if (this.dry) this.countedByRestore.delete(a.id);
    if (!counted) a.count++;
    a.lastSeen = Math.max(a.lastSeen, now);
    a.message = occ.message;
    a.value = occ.value;
    a.kind = occ.kind;
    a.reportedBy = occ.device;
    a.lastCorrelationId = occ.correlationId;
    a.facts = occ.facts;
    a.overdue = false;
    this.scheduleQuiet(a);
    if (this.dry) return { alarm: a, notify: undefined };
    const repeat = !a.acknowledged && now - a.notifiedAt >= a.times.repeatMs;
    if (repeat) {
      a.notifiedAt = now;
      a.notifications++;
    }
    this.emit('updated', a, occ.correlationId, repeat || now - a.storedAt >= UPDATE_STORE_MS, undefined);
    return { alarm: a, notify: repeat ? 'repeat' : undefined };
  }

  /**
   * An operator acknowledges an alarm (active or cleared); undefined when it is not known. With
   * `clear`, an active one is cleared too, as if its condition stopped holding: for an alarm that
   * cannot clear by itself (a smoke detector removed while in alarm). If it holds again, it is raised anew.
   */
  acknowledge(id: string, by: string, note: string | undefined, correlationId: string, clear = false): Alarm | undefined {
    const a = this.get(id);
    if (!a) return a;
    const said = note ? `by ${by}: ${note}` : `by ${by}`;
    if (!a.acknowledged) {
      a.acknowledged = true;
      a.acknowledgedBy = by;
      this.emit('acknowledged', a, correlationId, true, said);
    }
    if (clear) this.clear(a, `cleared ${said}`, correlationId);
    return a;
  }

  /** Clears an active alarm (its condition stopped holding, the actuator answered, the hold ended). */
  clear(a: Alarm, reason: string, correlationId: string): void {
    if (this.dry || this.byKey.get(a.key) !== a) return;
    this.deactivate(a);
    a.clearedAt = this.o.clock.now();
    a.clearReason = reason;
    this.emit('cleared', a, correlationId, true, reason);
  }

  /** The quiet-period timer of an alarm. */
  quiet(id: string): void {
    const a = this.activeById.get(id);
    const clearAfter = a?.times.clearAfterMs;
    if (!a || clearAfter === undefined) return;
    const due = a.lastSeen + clearAfter;
    if (this.o.clock.now() < due) return this.o.schedule(a.id, due);
    if (this.dry) {
      a.overdue = true;
      return;
    }
    this.clear(a, `no firing for ${Math.round(clearAfter / 1000)} s`, a.lastCorrelationId);
  }

  /** A stored transition, during a rebuild: what really happened to an alarm. */
  restore(t: AlarmTransitionEvent): void {
    let a = this.get(t.alarmId);
    // An alarm that ended (cleared, or replaced by a new one of its key) never comes back: a transition
    // stored at the same time as its end may be read after it (an acknowledgement with "clear": true).
    const ended = a !== undefined && this.cleared.get(a.id) === a;
    if (a) mergeTransition(a, t);
    else a = alarmOfTransition(t, this.o.timesOf(t.rule));
    if (t.transition === 'raised') a.correlationId = t.correlationId;
    if (t.transition !== 'acknowledged') {
      a.lastCorrelationId = t.correlationId;
      this.countedByRestore.set(a.id, t.correlationId);
    }
    if (t.transition === 'cleared' || !t.active || ended) {
      if (this.activeById.get(a.id) === a) this.deactivate(a);
      if (t.transition === 'cleared' || a.clearedAt === undefined) a.clearedAt = t.timeMs;
      if (t.transition === 'cleared') a.clearReason = t.reason;
      this.cleared.set(a.id, a);
      return;
    }
    if (this.activeById.get(a.id) !== a) {
      // Past the bound the stored alarm stays unknown, as a new one is not raised.
      if (this.byKey.get(a.key) === undefined && this.full()) return;
      this.activate(a);
    }
    this.scheduleQuiet(a);
  }

  /** A cluster takeover, before going live: an active alarm as the shared state has it (alarm.ts' `adoptTransition`). */
  adopt(t: AlarmTransitionEvent): void {
    const a = this.activeById.get(t.alarmId);
    if (!a) return;
    adoptTransition(a, t);
    // Its quiet period counts from the adopted last seen (goLive clears it if that ran out).
    a.overdue = false;
    this.scheduleQuiet(a);
  }

  /** After a rebuild: alarms whose quiet period ran out while the gateway was away clear now. */
  goLive(): void {
    this.dry = false;
    this.countedByRestore.clear();
    const now = this.o.clock.now();
    for (const a of [...this.byKey.values()]) {
      const clearAfter = a.times.clearAfterMs;
      if (clearAfter !== undefined && (a.overdue || now >= a.lastSeen + clearAfter)) this.clear(a, `no firing for ${Math.round(clearAfter / 1000)} s (noticed at start)`, a.lastCorrelationId);
    }
  }

  /**
   * The rules in force changed: an active alarm whose rule is no longer loaded (removed, renamed,
   * its pack deleted) waits for it as one restored without it (no quiet time guessed, nothing to
   * check); one without its rule takes the rule's times once it is loaded again. Returns the alarms
   * that lost their rule now, to be said once.
   */
  rulesChanged(): Alarm[] {
    const lost: Alarm[] = [];
    for (const a of this.byKey.values()) {
      const times = this.o.timesOf(a.rule);
      if (!times && a.withoutRule !== true) {
        a.withoutRule = true;
        a.times = { repeatMs: a.times.repeatMs, clearAfterMs: undefined };
        this.explicit.delete(a);
        this.o.schedule(a.id, undefined);
        lost.push(a);
      }
      if (!times || a.withoutRule !== true) continue;
      a.withoutRule = false;
      a.times = times;
      if (times.clearAfterMs === undefined) this.explicit.add(a);
      else this.explicit.delete(a);
      this.scheduleQuiet(a);
    }
    return lost;
  }

  find(subject: Omit<AlarmSubject, 'type' | 'severity'>): Alarm | undefined {
    return this.byKey.get(keyOf(subject));
  }

  get(id: string): Alarm | undefined {
    return this.activeById.get(id) ?? this.cleared.get(id);
  }

  knows(id: string, site?: string): boolean {
    const a = this.get(id);
    return a !== undefined && (site === undefined || a.site === site);
  }

  active(): Alarm[] {
    return [...this.byKey.values()];
  }

  /** True when an active alarm of `site/zone` waits for a condition that only a reading can meet. */
  waitsInZone(site: string, zone: string): boolean {
    return this.explicit.waitsIn(site, zone);
  }

  /** The active alarms of `site/zone` that only an explicit condition clears. */
  explicitIn(site: string, zone: string): readonly Alarm[] {
    return this.explicit.in(site, zone);
  }

  /** The notification (CloudEvent on `alerts/<site>/<severity>`) for a raise or a repeat. */
  alert(a: Alarm, correlationId: string): AlertEvent {
    return alertOf(a, correlationId, this.o.clock.now());
  }

  view(a: Alarm): AlarmView {
    return viewOf(a, this.activeById.get(a.id) === a);
  }

  /** As many alarms are active as the bound: a new one is refused (said), since dropping an active one would hide what it warns of. */
  private full(): boolean {
    const bound = this.o.bound ?? RULE_BOUNDS.alarms;
    if (this.byKey.size < bound) return false;
    this.o.refused?.('alarm', bound);
    return true;
  }

  private activate(a: Alarm): void {
    const previous = this.byKey.get(a.key);
    if (previous && previous !== a) this.deactivate(previous);
    this.byKey.set(a.key, a);
    this.activeById.set(a.id, a);
    this.cleared.delete(a.id);
    a.clearedAt = undefined;
    // One whose rule is not loaded has no clear condition to check: every reading of its zone would go to the engine for nothing.
    if (a.times.clearAfterMs === undefined && a.withoutRule !== true) this.explicit.add(a);
    this.scheduleQuiet(a);
  }

  private deactivate(a: Alarm): void {
    this.byKey.delete(a.key);
    this.activeById.delete(a.id);
    this.explicit.delete(a);
    this.cleared.set(a.id, a);
    this.o.schedule(a.id, undefined);
  }

  private scheduleQuiet(a: Alarm): void {
    if (a.times.clearAfterMs !== undefined) this.o.schedule(a.id, a.lastSeen + a.times.clearAfterMs);
  }

  private emit(transition: AlarmTransition, a: Alarm, correlationId: string, persist: boolean, reason: string | undefined): void {
    const timeMs = this.o.clock.now();
    if (persist) a.storedAt = timeMs;
    this.o.onTransition(transitionOf(a, transition, correlationId, reason, this.activeById.get(a.id) === a, timeMs), persist);
  }
}
