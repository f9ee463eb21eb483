import { backoffDelay } from '../core/backoff.js';
import type { Clock } from '../core/clock.js';
import type { ActuatorStateEvent, CommandEvent, CommandStatus, CommandStatusEvent } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import { ACTUATOR_UNRESPONSIVE, MANUAL_OVERRIDE, type ActionDispatcher, type ActuatorState } from './actions.js';
import type { AlarmBook } from './alarms.js';
import type { OnForget, OnRefuse } from './bounds.js';
import { afterComingBack, changedByHand, restoreAfterComingBack, type DifferingReportOptions } from './differing-report.js';
import { confirms, describe, offline, type ActuatorAvailability, type ExpectedReport, type Saga } from './saga.js';
import { SagaMemory, type LastReport } from './saga-memory.js';

/**
 * A saga per command (Garcia-Molina's sagas: a step that does not complete is retried, then
 * compensated). A command to an actuator that reports its state is `confirmed` when a report
 * matches the commanded data (every field of the data, same value; for a native device, of what it
 * was asked in its own terms: `expectedReport`); not confirmed within
 * `confirmMs`, it is resent (the same CloudEvent, same id) with a doubling wait, up to `retries`
 * times; then it `failed`: the `actuator_unresponsive` alarm is raised and the rules treat the
 * actuator's state as unknown (the compensation). A report that changes a state the rules set,
 * while no command waits, is a manual override: the last command is `overridden`, the
 * `manual_override` alarm is raised, and the rules leave the actuator alone while it is active
 * (`holdMs` after the last change by hand), unless a rule is marked `override`; but a report
 * from a device that just came back is its power-on state: the last command is sent again
 * (differing-report.ts). The state of an actuator the rules never commanded follows its reports.
 *
 * A command the actuator's last report already holds (no saga before it) is confirmed by that report.
 * An actuator counts as reporting once it has reported a state (a contract device on
 * `devices/<device>/state`, a native one through the device map); commands to the others are
 * `sent`, then `confirmed` by its first report when that matches the latest (many report only once changed),
 * or waited for from that report when it comes within `confirmMs` (a climate device reports field by field).
 *
 * `dry` (a rebuild): stored commands, reports and statuses replay the sagas as they were, without
 * publishing or storing anything; a confirmation time that ran out meanwhile acts when going live.
 */

export interface CommandTrackerOptions extends DifferingReportOptions {
  readonly clock: Clock;
  readonly confirmMs: number;
  readonly retries: number;
  readonly holdMs: number;
  /** A relay reports on/off, not the mode it was given (saga.ts). */
  readonly expectedReport?: ExpectedReport;
  /** Whether a native actuator's device is offline, said in the `actuator_unresponsive` alarm (saga.ts). */
  readonly availability?: ActuatorAvailability;
  readonly dispatcher: ActionDispatcher;
  readonly alarms: AlarmBook;
  /** Wake `timeout(target)` at `at` (undefined: not needed any more). */
  readonly schedule: (target: string, at: number | undefined) => void;
  readonly onStatus: (s: CommandStatusEvent) => void;
  /** Publish a command again. */
  readonly resend: (c: CommandEvent, attempt: number) => void;
  /** Notify on `alerts/…` (the alarms the saga raises). */
  readonly notify: (alert: ReturnType<AlarmBook['alert']>) => void;
  /** Actuators remembered at most (rules/bounds.ts), and who is told of what is forgotten or refused past it. */
  readonly bound?: number;
  readonly forgot?: OnForget;
  readonly refused?: OnRefuse;
}

export class CommandTracker {
  dry = false;
  /** Per actuator: sagas, last reports, first commands, step times; bounded (saga-memory.ts). */
  readonly memory: SagaMemory;

  constructor(private readonly o: CommandTrackerOptions) {
    this.memory = new SagaMemory(o.bound, o.forgot, o.refused);
  }

  /** Now, or just after the actuator's previous step when that was in the same millisecond. */
  private stepTime(target: string): number {
    const now = this.o.clock.now();
    const last = this.memory.lastStep.get(target);
    const t = last !== undefined && now <= last ? last + 1 : now;
    this.memory.lastStep.set(target, t);
    return t;
  }

  get pending(): number {
    return this.memory.sagas.size;
  }

  /** Whether commands to this actuator are confirmed (it has reported a state). */
  reports(target: string): boolean {
    return this.memory.reported.has(target);
  }

  lastReport(target: string): LastReport | undefined {
    return this.memory.reported.get(target);
  }

  waiting(target: string): { readonly commandId: string; readonly attempt: number; readonly sentAt: number } | undefined {
    const s = this.memory.sagas.get(target);
    return s && { commandId: s.command.id, attempt: s.attempt, sentAt: s.sentAt };
  }

  /** A command went out (live), or was stored before a restart (dry); `detail` for its `sent` status. */
  sent(c: CommandEvent, detail?: string): void {
    const target = targetOf(c);
    const before = this.memory.sagas.get(target);
    if (before) {
      this.memory.sagas.delete(target);
      this.status(before.command, 'superseded', before.attempt, undefined, `superseded by ${c.id}`);
    }
    const last = this.memory.reported.get(target);
    this.status(c, 'sent', 0, undefined, last ? detail : 'not tracked: the actuator has not reported its state yet');
    if (!last) {
      this.memory.untracked.set(target, c);
      return this.o.schedule(target, undefined);
    }
    // Already so by its last report (a switch on by hand): a device that reports only changes (ESPHome) says nothing more. Not once unresponsive: that report is stale.
    if (!before && !this.o.alarms.find({ rule: ACTUATOR_UNRESPONSIVE, site: c.site, zone: c.zone, actuator: c.actuator }) && confirms(this.o.expectedReport, target, c.cloudEvent.data, last.state)) return this.status(c, 'confirmed', 0, last.state, 'already so by its last report');
    this.track({ command: c, attempt: 0, sentAt: c.timeMs, dueAt: c.timeMs + this.o.confirmMs, overdue: false });
  }

  private track(saga: Saga): void {
    const target = targetOf(saga.command);
    if (this.memory.track(target, saga)) this.o.schedule(target, saga.dueAt);
  }

  /** What an actuator reported. */
  report(r: ActuatorStateEvent): void {
    const target = `${r.site}/${r.zone}/${r.actuator}`;
    const first = this.memory.untracked.get(target);
    this.memory.untracked.delete(target);
    // Touched: the actuator reported longest ago is the first forgotten past the bound.
    this.memory.reported.touch(target, { state: r.state, at: r.timeMs, device: r.device });
    const unresponsive = this.o.alarms.find({ rule: ACTUATOR_UNRESPONSIVE, site: r.site, zone: r.zone, actuator: r.actuator });
    if (unresponsive) this.o.alarms.clear(unresponsive, `the actuator reported ${describe(r.state)}`, r.id);
    const saga = this.memory.sagas.get(target);
    if (saga) {
      // While a command waits, a report of another state is the actuator still on its way.
      if (!confirms(this.o.expectedReport, target, saga.command.cloudEvent.data, r.state)) return;
      this.memory.sagas.delete(target);
      this.o.schedule(target, undefined);
      this.status(saga.command, 'confirmed', saga.attempt, r.state, `after ${r.timeMs - saga.sentAt} ms`);
      return;
    }
    const current = this.o.dispatcher.current(target);
    if (first && current?.commandId === first.id) {
      if (confirms(this.o.expectedReport, target, first.cloudEvent.data, r.state)) return this.status(first, 'confirmed', 0, r.state, `after ${r.timeMs - first.timeMs} ms, its first report`);
      // Within its confirmation time the command is tracked from here, as if the actuator had
      // reported before: a climate device reports field by field; a state from before may cross it.
      if (r.timeMs - first.timeMs < this.o.confirmMs) return this.track({ command: first, attempt: 0, sentAt: first.timeMs, dueAt: first.timeMs + this.o.confirmMs, overdue: false });
    }
    const failed = this.memory.failed.get(target);
    this.memory.failed.delete(target);
    if (!current || unresponsive) {
      // Unconfirmed because it had lost power: back, it is put back to what it did not confirm.
      const { command } = this.o;
      const was = failed && !this.dry && r.cameBack !== undefined ? stateOf(failed) : undefined;
      if (was && command && afterComingBack(this.o, r.actuator, r.state, was) === 'restore') return restoreAfterComingBack({ ...this.o, command }, target, r, was, (c, detail) => this.sent(c, detail));
      // It did what it did not confirm, late: that command holds again, confirmed by this report (a rebuild: restoreStatus).
      if (failed && confirms(this.o.expectedReport, target, failed.cloudEvent.data, r.state)) {
        this.o.dispatcher.confirmedLate(target, failed.cloudEvent.data, r.timeMs, failed.id, failed.rule, failed.cloudEvent.type);
        return this.status(failed, 'confirmed', this.o.retries, r.state, `late, by a report ${r.timeMs - failed.timeMs} ms after it was sent (it had failed)`);
      }
      // Nothing known before, or unknown since it did not confirm: now it is known. Since when is
      // not: no minimum on/off time runs from this report.
      this.o.dispatcher.adopt(target, r.state, Number.NEGATIVE_INFINITY);
      return;
    }
    if (confirms(this.o.expectedReport, target, current.data, r.state)) return;
    const held = this.o.alarms.find({ rule: MANUAL_OVERRIDE, site: r.site, zone: r.zone, actuator: r.actuator });
    if (current.commandId === undefined && !held) {
      // A state the rules never set (only reported): followed, not a takeover.
      this.o.dispatcher.adopt(target, r.state, r.timeMs);
      return;
    }
    // During a rebuild the stored `overridden` status, or the stored command that put it back, says what happened.
    if (this.dry) return;
    const { command } = this.o;
    const back = r.cameBack !== undefined && current.commandId !== undefined && !held && command ? afterComingBack(this.o, r.actuator, r.state, current) : 'by hand';
    if (back === 'adopt') return this.o.dispatcher.adopt(target, r.state, r.timeMs);
    if (back === 'restore' && command) return restoreAfterComingBack({ ...this.o, command }, target, r, current, (c, detail) => this.sent(c, detail));
    changedByHand(this.o, this.stepTime(target), target, r, current.commandId, current.data);
  }

  /** A saga as a cluster's shared state keeps it (rules/shared-state.ts). */
  saga(target: string): { readonly command: CommandEvent; readonly attempt: number; readonly sentAt: number; readonly dueAt: number } | undefined {
    const s = this.memory.sagas.get(target);
    return s && { command: s.command, attempt: s.attempt, sentAt: s.sentAt, dueAt: s.dueAt };
  }

  /** Takes an actuator's saga and last report over from the shared state (a takeover, before going live). */
  adopt(target: string, saga: ReturnType<CommandTracker['saga']>, report: ReturnType<CommandTracker['lastReport']>): void {
    if (report) this.memory.reported.set(target, report);
    else this.memory.reported.delete(target);
    if (saga) {
      if (this.memory.track(target, { ...saga, overdue: false })) this.o.schedule(target, saga.dueAt);
    } else if (this.memory.sagas.delete(target)) this.o.schedule(target, undefined);
  }

  /** A command's confirmation time ran out. */
  timeout(target: string): void {
    const saga = this.memory.sagas.get(target);
    if (!saga) return;
    const now = this.o.clock.now();
    if (now < saga.dueAt) return this.o.schedule(target, saga.dueAt);
    if (this.dry) {
      saga.overdue = true;
      return;
    }
    saga.overdue = false;
    const c = saga.command;
    if (saga.attempt < this.o.retries) {
      saga.attempt++;
      saga.dueAt = now + this.wait(saga.attempt);
      this.o.resend(c, saga.attempt);
      this.status(c, 'retried', saga.attempt, undefined, `not confirmed within ${Math.round((now - saga.sentAt) / 1000)} s`);
      this.o.schedule(target, saga.dueAt);
      return;
    }
    this.memory.sagas.delete(target);
    const detail = `not confirmed after ${saga.attempt} resend(s), ${Math.round((now - saga.sentAt) / 1000)} s${offline(this.o.availability?.(target))}`;
    this.status(c, 'failed', saga.attempt, undefined, detail);
    this.o.dispatcher.forget(target);
    this.memory.failed.set(target, c);
    const { alarm, notify } = this.o.alarms.fire(
      { rule: ACTUATOR_UNRESPONSIVE, type: 'actuator.unresponsive', severity: 'warning', site: c.site, zone: c.zone, actuator: c.actuator },
      { repeatMs: Number.POSITIVE_INFINITY, clearAfterMs: undefined },
      { message: `${c.actuator} in ${c.site}/${c.zone} did not confirm ${describe(c.cloudEvent.data)}: ${detail}; its state is unknown until it reports`, value: c.cloudEvent.data, kind: undefined, device: this.memory.reported.get(target)?.device ?? c.actuator, correlationId: c.id },
    );
    if (alarm && notify) this.o.notify(this.o.alarms.alert(alarm, c.id));
  }

  /** A stored step of a saga, during a rebuild. */
  restoreStatus(s: CommandStatusEvent): void {
    const target = `${s.site}/${s.zone}/${s.actuator}`;
    const saga = this.memory.sagas.get(target);
    switch (s.status) {
      case 'sent':
        return;
      case 'retried':
        if (saga && saga.command.id === s.commandId) {
          saga.attempt = s.attempt;
          saga.overdue = false;
          saga.dueAt = s.timeMs + this.wait(s.attempt);
          this.o.schedule(target, saga.dueAt);
        }
        return;
      case 'failed':
        this.o.dispatcher.forget(target);
        break;
      case 'overridden':
        if (s.reported) this.o.dispatcher.adopt(target, s.reported, s.timeMs);
        break;
      case 'confirmed': {
        // Late, after it failed (report above): the command holds again, from the confirming report (replayed just before; its status is stored a step later), as live.
        const by = this.memory.reported.get(target);
        if (s.reported && this.o.dispatcher.current(target)?.commandId === undefined) this.o.dispatcher.confirmedLate(target, s.data, by && by.at <= s.timeMs && confirms(this.o.expectedReport, target, s.data, by.state) ? by.at : s.timeMs, s.commandId, s.rule);
        break;
      }
      case 'superseded':
        break;
    }
    if (saga && saga.command.id === s.commandId) {
      this.memory.sagas.delete(target);
      this.o.schedule(target, undefined);
    }
  }

  /** After a rebuild: sagas whose confirmation time ran out while the gateway was away act now. */
  goLive(): void {
    this.dry = false;
    for (const [target, saga] of [...this.memory.sagas]) if (saga.overdue || this.o.clock.now() >= saga.dueAt) this.timeout(target);
  }

  /** How long to wait for a confirmation after the n-th send (doubling). */
  private wait(attempt: number): number {
    return backoffDelay(attempt, this.o.confirmMs, this.o.confirmMs * 2 ** Math.max(0, this.o.retries), false);
  }

  private status(c: CommandEvent, status: CommandStatus, attempt: number, reported: Readonly<Record<string, unknown>> | undefined, detail: string | undefined): void {
    if (this.dry) return;
    const now = this.stepTime(targetOf(c));
    this.o.onStatus({
      id: newEventId(),
      commandId: c.id,
      status,
      site: c.site,
      zone: c.zone,
      actuator: c.actuator,
      rule: c.rule,
      attempt,
      data: c.cloudEvent.data,
      reported,
      correlationId: c.cloudEvent.correlationid,
      detail,
      time: new Date(now).toISOString(),
      timeMs: now,
    });
  }
}

const targetOf = (c: Pick<CommandEvent, 'site' | 'zone' | 'actuator'>): string => `${c.site}/${c.zone}/${c.actuator}`;

/** A command as the state it set (what a device that came back is put back to). */
const stateOf = (c: CommandEvent): ActuatorState => ({ json: JSON.stringify(c.cloudEvent.data), data: c.cloudEvent.data, changedAt: c.timeMs, commandId: c.id, rule: c.rule, type: c.cloudEvent.type });
