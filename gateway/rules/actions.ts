import type { Clock } from '../core/clock.js';
import type { AlertEvent, CommandData, CommandEvent, ReadingEvent } from '../core/events.js';
import { GuardedMap } from '../core/guarded-map.js';
import type { AlarmBook } from './alarms.js';
import { RULE_BOUNDS, type OnForget, type OnRefuse } from './bounds.js';
import { cloudEvent } from './cloud-event.js';
import type { Firing } from './engine.js';
import { defaultAlarmPolicy, type ActuatorPolicy, type CommandParams } from './pack.js';
import { matches, type ExpectedReport } from './saga.js';
import type { SharedActuator } from './shared-state.js';
import type { ZoneState } from './state.js';

export type Outcome = CommandEvent | AlertEvent;

/** The alarm the gateway raises for an actuator someone took over by hand; while active, rules leave it alone. */
export const MANUAL_OVERRIDE = 'manual_override';
/** The alarm the gateway raises for an actuator that did not confirm a command; its state is unknown meanwhile. */
export const ACTUATOR_UNRESPONSIVE = 'actuator_unresponsive';

/**
 * Why a firing produced nothing (for counters, rule tests and the trace). `min-on-off`: the
 * actuator switched less than its minimum on/off time ago; `manual-hold`: someone took it over by
 * hand; `retryAt` is when it may switch again. `repeat-window`: the alarm was notified recently.
 * `memory-full`: a new actuator or alarm past its bound, when none remembered may go (rules/bounds.ts).
 * `overridden`: another rule's command to the actuator came first (higher priority, or the same
 * and its name sorts first).
 */
export type Suppression =
  | { readonly kind: 'already-in-state' | 'repeat-window' | 'memory-full'; readonly rule: string; readonly target: string }
  | {
      readonly kind: 'overridden';
      readonly rule: string;
      readonly target: string;
      /** The command that lost, and its rule's priority. */
      readonly data: Readonly<Record<string, unknown>>;
      readonly priority: number;
      /** The rule that won the actuator for this reading (the engine's order: priority, then name), its command and priority. */
      readonly by: string;
      readonly byData: Readonly<Record<string, unknown>>;
      readonly byPriority: number;
    }
  | { readonly kind: 'manual-hold'; readonly rule: string; readonly target: string; readonly retryAt: number }
  | {
      readonly kind: 'min-on-off';
      readonly rule: string;
      readonly target: string;
      readonly retryAt: number;
      /** The command held back. */
      readonly data: Readonly<Record<string, unknown>>;
      /** The state the actuator is kept in, and for how long at least once switched there. */
      readonly holding: 'on' | 'off';
      readonly minimumMs: number;
    };

/** A rule's command data as JSON: the data is the pack's own, fixed while the pack is loaded, so it is written once. */
const jsonOfData = new WeakMap<object, string>();
function dataJson(data: Readonly<Record<string, unknown>>): string {
  let json = jsonOfData.get(data);
  if (json === undefined) jsonOfData.set(data, (json = JSON.stringify(data)));
  return json;
}

/** What the gateway holds an actuator to be doing. */
export interface ActuatorState {
  readonly json: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly changedAt: number;
  /** The command that set it (undefined: adopted from what the actuator reported). */
  readonly commandId: string | undefined;
  readonly rule: string | undefined;
  /** The command's CloudEvent type, where a command set it (an actuator put back after it came back is sent the same). */
  readonly type?: string;
}

/**
 * Turns rule firings into command and alert events (CloudEvents 1.0 with `correlationid` = the
 * reading's id). An actuator already in the commanded state is not sent the command again;
 * within one reading, only the first command per actuator counts (the engine's order: highest
 * priority, then rule name); an actuator with a minimum on/off time is not switched again
 * before it is up (unless the rule forces), nor one taken over by hand (unless the rule
 * overrides). Alert firings go to their alarm, which says whether to notify.
 *
 * `dry` (a rebuild): decisions change nothing; what was really commanded comes from the stored
 * commands (`restore`).
 */
export class ActionDispatcher {
  dry = false;
  /** By target; past the bound the one idle longest goes, never one waiting for a confirmation or within its minimum on/off time. */
  private readonly actuators: GuardedMap<string, ActuatorState>;
  private policies: Readonly<Record<string, ActuatorPolicy>> = {};

  constructor(
    private readonly state: ZoneState,
    private readonly clock: Clock,
    private readonly alarms: AlarmBook,
    /** What a native actuator reports for a command (saga.ts): its adopted reports are in those terms. */
    private readonly expectedReport?: ExpectedReport,
    /** The bound of actuators; `waits`: a command to the target waits for its confirmation (commands.ts). */
    o: { readonly bound?: number; readonly waits?: (target: string) => boolean; readonly forgot?: OnForget; readonly refused?: OnRefuse } = {},
  ) {
    const bound = o.bound ?? RULE_BOUNDS.actuators;
    const kept = (target: string, a: ActuatorState): boolean => o.waits?.(target) === true || this.lockedUntil(target, target.slice(target.lastIndexOf('/') + 1), a, this.clock.now()) !== undefined;
    this.actuators = new GuardedMap(bound, { kept, onEvict: () => o.forgot?.('actuator', bound), onRefuse: () => o.refused?.('actuator', bound) });
  }

  usePolicies(policies: Readonly<Record<string, ActuatorPolicy>>): void {
    this.policies = policies;
  }

  /** Takes the shared state as the truth (a cluster node taking a partition over): what each actuator is held to be doing. */
  replaceAll(actuators: ReadonlyMap<string, SharedActuator>): void {
    this.actuators.clear();
    for (const [target, a] of actuators) this.restoreShared(target, a);
  }

  /** One actuator as the shared state has it (a takeover's replay, from the time it was commanded). */
  restoreShared(target: string, a: SharedActuator): void {
    const changedAt = typeof a.changedAt === 'number' ? a.changedAt : Number.NEGATIVE_INFINITY;
    this.actuators.set(target, { json: JSON.stringify(a.data), data: a.data, changedAt, commandId: a.commandId, rule: a.rule });
  }

  /** The last command data sent to an actuator, as JSON (for the live view and tests). */
  actuatorState(site: string, zone: string, actuator: string): string | undefined {
    return this.actuators.get(`${site}/${zone}/${actuator}`)?.json;
  }

  /** The last command data sent to an actuator (the `actuator` fact); undefined when unknown. */
  actuatorData(site: string, zone: string, actuator: string): Readonly<Record<string, unknown>> | undefined {
    return this.actuators.get(`${site}/${zone}/${actuator}`)?.data;
  }

  current(target: string): ActuatorState | undefined {
    return this.actuators.get(target);
  }

  /** Every actuator with a known state, by `site/zone/actuator`. */
  all(): ReadonlyMap<string, ActuatorState> {
    return this.actuators;
  }

  /** A command that was sent (a stored one, during a rebuild): the actuator's state from then on. */
  restore(c: CommandEvent): void {
    const data = c.cloudEvent.data;
    this.actuators.touch(`${c.site}/${c.zone}/${c.actuator}`, { json: JSON.stringify(data), data, changedAt: c.timeMs, commandId: c.id, rule: c.rule, type: c.cloudEvent.type });
  }

  /** What the actuator reported when nobody commanded it (taken over by hand, or back after being unknown). */
  adopt(target: string, data: CommandData, at: number): void {
    this.actuators.touch(target, { json: JSON.stringify(data), data, changedAt: at, commandId: undefined, rule: undefined });
  }

  /** A command that failed, then its actuator reported its state after all: it holds again, from that report (no sooner for minimum on/off times). */
  confirmedLate(target: string, data: CommandData, at: number, commandId: string, rule: string | undefined, type?: string): void {
    this.actuators.touch(target, { json: JSON.stringify(data), data, changedAt: at, commandId, rule, ...(type !== undefined ? { type } : {}) });
  }

  /** The actuator did not confirm: its state is unknown until it is commanded or reports again. */
  forget(target: string): void {
    this.actuators.delete(target);
  }

  /**
   * `only`: a retry at the end of a minimum on/off time or a manual hold; only commands to that
   * target (`site/zone/actuator`) count, everything else already happened.
   */
  dispatch(reading: ReadingEvent, firings: readonly Firing[], only?: string): { outcomes: Outcome[]; suppressed: Suppression[] } {
    const outcomes: Outcome[] = [];
    const suppressed: Suppression[] = [];
    /** By target, the firing whose command it got for this reading (firings come in the engine's order). */
    const commanded = new Map<string, Firing>();
    const now = this.clock.now();
    for (let i = 0; i < firings.length; i++) {
      const { rule, event, facts } = firings[i]!;
      if (event.type === 'command') {
        const zones = event.params.scope === 'site' ? this.state.zonesOf(reading.site) : [reading.zone];
        for (const zone of zones.length > 0 ? zones : [reading.zone]) {
          const target = `${reading.site}/${zone}/${event.params.actuator}`;
          if (only !== undefined && target !== only) continue;
          const winner = commanded.get(target);
          if (winner) {
            const byData = winner.event.type === 'command' ? winner.event.params.data : {};
            suppressed.push({ kind: 'overridden', rule: rule.name, target, data: event.params.data, priority: rule.priority ?? 1, by: winner.rule.name, byData, byPriority: winner.rule.priority ?? 1 });
            continue;
          }
          commanded.set(target, firings[i]!);
          const data = dataJson(event.params.data);
          const current = this.actuators.get(target);
          if (current?.json === data) {
            suppressed.push({ kind: 'already-in-state', rule: rule.name, target });
            continue;
          }
          const held = event.params.override ? undefined : this.heldUntil(reading.site, zone, event.params.actuator);
          if (held !== undefined) {
            suppressed.push({ kind: 'manual-hold', rule: rule.name, target, retryAt: held });
            continue;
          }
          const lock = event.params.force ? undefined : this.lockedUntil(target, event.params.actuator, current, now);
          if (lock !== undefined) {
            suppressed.push({ kind: 'min-on-off', rule: rule.name, target, retryAt: lock.until, data: event.params.data, holding: lock.holding, minimumMs: lock.minimumMs });
            continue;
          }
          if (this.dry) continue;
          if (!current && !this.actuators.admits(target)) {
            suppressed.push({ kind: 'memory-full', rule: rule.name, target });
            continue;
          }
          const command = this.command(reading, rule.name, zone, event.params, facts);
          // Touched: the actuator idle longest is the first forgotten past the bound.
          this.actuators.touch(target, { json: data, data: event.params.data, changedAt: now, commandId: command.id, rule: rule.name, type: command.cloudEvent.type });
          outcomes.push(command);
        }
      } else if (only === undefined) {
        const { params } = event;
        const policy = rule.alarm ?? defaultAlarmPolicy(params.severity);
        const message = params.message.replace(/\{\{(device|zone|site|kind|value)\}\}/g, (_m, key: 'device' | 'zone' | 'site' | 'kind' | 'value') => String(reading[key]));
        const subject = {
          rule: rule.name,
          type: params.type ?? `alert.${params.severity}`,
          severity: params.severity,
          site: reading.site,
          zone: reading.zone,
          device: policy.per === 'device' ? reading.device : undefined,
        };
        const times = { repeatMs: policy.repeatMs, clearAfterMs: policy.clearAfterMs };
        const { alarm, notify } = this.alarms.fire(subject, times, { message, value: reading.value, kind: reading.kind, device: reading.device, correlationId: reading.id, facts });
        if (alarm && notify) outcomes.push(this.alarms.alert(alarm, reading.id));
        else if (alarm) suppressed.push({ kind: 'repeat-window', rule: rule.name, target: alarm.id });
        else if (!this.dry) suppressed.push({ kind: 'memory-full', rule: rule.name, target: `${subject.site}/${subject.zone}${subject.device ? `/${subject.device}` : ''}` });
      }
    }
    return { outcomes, suppressed };
  }

  /** Until when an actuator taken over by hand is left alone, if it is. */
  private heldUntil(site: string, zone: string, actuator: string): number | undefined {
    const hold = this.alarms.find({ rule: MANUAL_OVERRIDE, site, zone, actuator });
    const ms = hold?.times.clearAfterMs;
    return hold && ms !== undefined ? hold.lastSeen + ms : undefined;
  }

  /** Until when an actuator must keep its state (its minimum on or off time), if it must. */
  private lockedUntil(target: string, actuator: string, current: ActuatorState | undefined, now: number): { until: number; holding: 'on' | 'off'; minimumMs: number } | undefined {
    const policy = this.policies[actuator];
    if (!policy || !current || !policy.off) return undefined;
    // A state adopted from a report is in the device's terms: a relay's {"state":"off"} is the policy's {"mode":"off"};
    // and a command that came out as off is off (a heater told to cool, a heat-only valve told to cool).
    let isOff = matches(policy.off, current.data);
    if (!isOff && this.expectedReport) {
      const off = this.expectedReport(target, policy.off);
      isOff = matches(off, current.data) || matches(off, this.expectedReport(target, current.data));
    }
    const minimumMs = isOff ? policy.minOffMs : policy.minOnMs;
    const until = current.changedAt + minimumMs;
    return until > now ? { until, holding: isOff ? 'off' : 'on', minimumMs } : undefined;
  }

  private command(reading: ReadingEvent, rule: string, zone: string, params: CommandParams, facts: Firing['facts']): CommandEvent {
    const { site } = reading;
    const { actuator } = params;
    const timeMs = this.clock.now();
    const ce = cloudEvent(params.type ?? `${actuator}.set`, rule, `${site}/${zone}/${actuator}`, reading.id, params.data, timeMs);
    return { kind: 'command', id: ce.id, timeMs, topic: `commands/${site}/${zone}/${actuator}`, site, zone, actuator, rule, cloudEvent: ce, ...(facts ? { facts } : {}) };
  }
}
