import { CloudEvent } from 'cloudevents';
import { newEventId } from '../core/ids.js';
import type { Clock } from '../core/clock.js';
import type { AlertData, AlertEvent, CloudEventJson, CommandEvent, ReadingEvent } from '../core/events.js';
import type { Firing } from './engine.js';
import type { ActuatorPolicy, AlertParams, CommandParams } from './pack.js';
import type { SharedActuator } from './shared-state.js';
import type { ZoneState } from './state.js';

export type Outcome = CommandEvent | AlertEvent;

/**
 * Why a firing produced nothing (for counters and rule tests). `min-on-off`: the actuator
 * switched less than its minimum on/off time ago; `retryAt` is when it may switch again.
 */
export type Suppression =
  | { readonly kind: 'already-in-state' | 'repeat-window' | 'overridden'; readonly rule: string; readonly target: string }
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

interface ActuatorState {
  readonly json: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly changedAt: number;
}

/**
 * Turns rule firings into command and alert events (CloudEvents 1.0 with `correlationid` = the
 * reading's id). An actuator already in the commanded state is not sent the command again;
 * within one reading, only the highest-priority command per actuator goes out; an actuator
 * with a minimum on/off time is not switched again before it is up (unless the rule forces).
 */
export class ActionDispatcher {
  private readonly actuators = new Map<string, ActuatorState>();
  private readonly alertSent = new Map<string, number>();
  private policies: Readonly<Record<string, ActuatorPolicy>> = {};

  constructor(
    private readonly state: ZoneState,
    private readonly clock: Clock,
  ) {}

  usePolicies(policies: Readonly<Record<string, ActuatorPolicy>>): void {
    this.policies = policies;
  }

  /** Takes the shared state as the truth (a cluster node taking a partition over): what was commanded, and when alerts went out. */
  adopt(actuators: ReadonlyMap<string, SharedActuator>, alertsSent: ReadonlyMap<string, number>): void {
    this.actuators.clear();
    for (const [target, a] of actuators) this.actuators.set(target, { json: JSON.stringify(a.data), data: a.data, changedAt: a.changedAt });
    this.alertSent.clear();
    for (const [target, at] of alertsSent) this.alertSent.set(target, at);
  }

  /** The last command data sent to an actuator, as JSON (for the live view and tests). */
  actuatorState(site: string, zone: string, actuator: string): string | undefined {
    return this.actuators.get(`${site}/${zone}/${actuator}`)?.json;
  }

  /** The last command data sent to an actuator (the `actuator` fact). */
  actuatorData(site: string, zone: string, actuator: string): Readonly<Record<string, unknown>> | undefined {
    return this.actuators.get(`${site}/${zone}/${actuator}`)?.data;
  }

  /**
   * `only`: a retry at the end of a minimum on/off time; only commands to that target
   * (`site/zone/actuator`) count, everything else already happened.
   */
  dispatch(reading: ReadingEvent, firings: readonly Firing[], only?: string): { outcomes: Outcome[]; suppressed: Suppression[] } {
    const outcomes: Outcome[] = [];
    const suppressed: Suppression[] = [];
    const commanded = new Set<string>();
    const now = this.clock.now();
    for (const { rule, event } of firings) {
      if (event.type === 'command') {
        const zones = event.params.scope === 'site' ? this.state.zonesOf(reading.site) : [reading.zone];
        for (const zone of zones.length > 0 ? zones : [reading.zone]) {
          const target = `${reading.site}/${zone}/${event.params.actuator}`;
          if (only !== undefined && target !== only) continue;
          if (commanded.has(target)) {
            suppressed.push({ kind: 'overridden', rule: rule.name, target });
            continue;
          }
          commanded.add(target);
          const data = JSON.stringify(event.params.data);
          const current = this.actuators.get(target);
          if (current?.json === data) {
            suppressed.push({ kind: 'already-in-state', rule: rule.name, target });
            continue;
          }
          const lock = event.params.force ? undefined : this.lockedUntil(event.params.actuator, current, now);
          if (lock !== undefined) {
            suppressed.push({ kind: 'min-on-off', rule: rule.name, target, retryAt: lock.until, data: event.params.data, holding: lock.holding, minimumMs: lock.minimumMs });
            continue;
          }
          this.actuators.set(target, { json: data, data: event.params.data, changedAt: now });
          outcomes.push(this.command(reading, rule.name, zone, event.params));
        }
      } else if (only === undefined) {
        const target = `${rule.name}/${reading.site}/${reading.zone}`;
        const last = this.alertSent.get(target);
        const repeatAfterMs = (event.params.repeatAfterSeconds ?? 0) * 1000;
        if (last !== undefined && now - last < repeatAfterMs) {
          suppressed.push({ kind: 'repeat-window', rule: rule.name, target });
          continue;
        }
        this.alertSent.set(target, now);
        outcomes.push(this.alert(reading, rule.name, event.params));
      }
    }
    return { outcomes, suppressed };
  }

  /** Until when an actuator must keep its state (its minimum on or off time), if it must. */
  private lockedUntil(actuator: string, current: ActuatorState | undefined, now: number): { until: number; holding: 'on' | 'off'; minimumMs: number } | undefined {
    const policy = this.policies[actuator];
    if (!policy || !current || !policy.off) return undefined;
    const off = policy.off;
    const isOff = Object.entries(off).every(([k, v]) => JSON.stringify(current.data[k]) === JSON.stringify(v));
    const minimumMs = isOff ? policy.minOffMs : policy.minOnMs;
    const until = current.changedAt + minimumMs;
    return until > now ? { until, holding: isOff ? 'off' : 'on', minimumMs } : undefined;
  }

  /** Built and validated by the CloudEvents SDK (spec 1.0, extension names, required fields). */
  private cloudEvent<T>(type: string, rule: string, subject: string, correlationId: string, data: T, timeMs: number): CloudEventJson<T> {
    const event = new CloudEvent<T>({
      id: newEventId(),
      type,
      source: `rules/${rule}`,
      time: new Date(timeMs).toISOString(),
      subject,
      datacontenttype: 'application/json',
      correlationid: correlationId,
      data,
    });
    return event.toJSON() as unknown as CloudEventJson<T>;
  }

  private command(reading: ReadingEvent, rule: string, zone: string, params: CommandParams): CommandEvent {
    const { site } = reading;
    const { actuator } = params;
    const timeMs = this.clock.now();
    const cloudEvent = this.cloudEvent(params.type ?? `${actuator}.set`, rule, `${site}/${zone}/${actuator}`, reading.id, params.data, timeMs);
    return { kind: 'command', id: cloudEvent.id, timeMs, topic: `commands/${site}/${zone}/${actuator}`, site, zone, actuator, rule, cloudEvent };
  }

  private alert(reading: ReadingEvent, rule: string, params: AlertParams): AlertEvent {
    const { site, severity } = { site: reading.site, severity: params.severity };
    const timeMs = this.clock.now();
    const message = params.message.replace(/\{\{(device|zone|site|kind|value)\}\}/g, (_m, key: 'device' | 'zone' | 'site' | 'kind' | 'value') => String(reading[key]));
    const data: AlertData = { severity, message, site, zone: reading.zone, device: reading.device, kind: reading.kind, value: reading.value };
    const cloudEvent = this.cloudEvent(params.type ?? `alert.${severity}`, rule, `${site}/${reading.zone}/${reading.device}`, reading.id, data, timeMs);
    return { kind: 'alert', id: cloudEvent.id, timeMs, topic: `alerts/${site}/${severity}`, site, severity, rule, cloudEvent };
  }
}
