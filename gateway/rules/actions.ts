import { CloudEvent } from 'cloudevents';
import { newEventId } from '../ids.js';
import type { Clock } from '../clock.js';
import type { AlertData, AlertEvent, CloudEventJson, CommandEvent, ReadingEvent } from '../events.js';
import { SeriesTime } from '../storage/series-time.js';
import type { Firing } from './engine.js';
import type { AlertParams, CommandParams } from './pack.js';
import type { ZoneState } from './state.js';

export type Outcome = CommandEvent | AlertEvent;

/** Why a firing produced nothing (for counters and rule tests). */
export type Suppression = { readonly kind: 'already-in-state' | 'repeat-window' | 'overridden'; readonly rule: string; readonly target: string };

/**
 * Turns rule firings into command and alert events (CloudEvents 1.0 with `correlationid` = the
 * reading's id). An actuator already in the commanded state is not sent the command again;
 * within one reading, only the highest-priority command per actuator goes out.
 */
export class ActionDispatcher {
  private readonly actuators = new Map<string, string>();
  private readonly alertSent = new Map<string, number>();
  private readonly seriesTime = new SeriesTime();

  constructor(
    private readonly state: ZoneState,
    private readonly clock: Clock,
  ) {}

  /** The last command data sent to an actuator, as JSON (for the live view and tests). */
  actuatorState(site: string, zone: string, actuator: string): string | undefined {
    return this.actuators.get(`${site}/${zone}/${actuator}`);
  }

  dispatch(reading: ReadingEvent, firings: readonly Firing[]): { outcomes: Outcome[]; suppressed: Suppression[] } {
    const outcomes: Outcome[] = [];
    const suppressed: Suppression[] = [];
    const commanded = new Set<string>();
    for (const { rule, event } of firings) {
      if (event.type === 'command') {
        const zones = event.params.scope === 'site' ? this.state.zonesOf(reading.site) : [reading.zone];
        for (const zone of zones.length > 0 ? zones : [reading.zone]) {
          const target = `${reading.site}/${zone}/${event.params.actuator}`;
          if (commanded.has(target)) {
            suppressed.push({ kind: 'overridden', rule: rule.name, target });
            continue;
          }
          commanded.add(target);
          const data = JSON.stringify(event.params.data);
          if (this.actuators.get(target) === data) {
            suppressed.push({ kind: 'already-in-state', rule: rule.name, target });
            continue;
          }
          this.actuators.set(target, data);
          outcomes.push(this.command(reading, rule.name, zone, event.params));
        }
      } else {
        const target = `${rule.name}/${reading.site}/${reading.zone}`;
        const now = this.clock.now();
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
    const timeMs = this.seriesTime.next(`cmd/${site}/${zone}/${actuator}/${rule}`, this.clock.now());
    const cloudEvent = this.cloudEvent(params.type ?? `${actuator}.set`, rule, `${site}/${zone}/${actuator}`, reading.id, params.data, timeMs);
    return { kind: 'command', id: cloudEvent.id, timeMs, topic: `commands/${site}/${zone}/${actuator}`, site, zone, actuator, rule, cloudEvent };
  }

  private alert(reading: ReadingEvent, rule: string, params: AlertParams): AlertEvent {
    const { site, severity } = { site: reading.site, severity: params.severity };
    const timeMs = this.seriesTime.next(`alert/${site}/${severity}/${rule}`, this.clock.now());
    const message = params.message.replace(/\{\{(device|zone|site|kind|value)\}\}/g, (_m, key: 'device' | 'zone' | 'site' | 'kind' | 'value') => String(reading[key]));
    const data: AlertData = { severity, message, site, zone: reading.zone, device: reading.device, kind: reading.kind, value: reading.value };
    const cloudEvent = this.cloudEvent(params.type ?? `alert.${severity}`, rule, `${site}/${reading.zone}/${reading.device}`, reading.id, data, timeMs);
    return { kind: 'alert', id: cloudEvent.id, timeMs, topic: `alerts/${site}/${severity}`, site, severity, rule, cloudEvent };
  }
}
