import type { ActuatorStateEvent, AlarmTransitionEvent, AlertEvent, CommandEvent, CommandStatusEvent, DeadLetterEvent, DeviceSilenceEvent, DeviceStatusEvent, GatewayStatsEvent, NativeCommandEvent, ReadingEvent, ZoneArmedEvent } from '../core/events.js';
import { floatField, intField, line, stringField, type Fields } from './line.js';

/**
 * Events to InfluxDB points, exactly as DESIGN.md lays them out. Each function returns one
 * `\n`-terminated line at the point time it is given (storage/event-store.ts chooses it);
 * the same event at the same time always yields the same line (idempotent writes).
 */

/**
 * `<kind>,device,site,zone value=…,seq=…i,event_id="…" <ms>`: the hot path, so no generic loop,
 * and no tag escaping: site, zone and device passed the topic's `[A-Za-z0-9_-]{1,64}` check.
 */
export function readingPoint(e: ReadingEvent, timeMs: number): string {
  const seq = e.seq === undefined ? '' : `,seq=${intField(e.seq)}`;
  return `${e.kind},device=${e.device},site=${e.site},zone=${e.zone} value=${floatField(e.numeric)}${seq},event_id=${stringField(e.id)} ${timeMs}\n`;
}

export function commandPoint(e: CommandEvent, timeMs: number): string {
  const ce = e.cloudEvent;
  return line(
    'commands',
    { site: e.site, zone: e.zone, actuator: e.actuator, rule: e.rule },
    {
      type: { str: ce.type },
      data: { str: JSON.stringify(ce.data) },
      correlation_id: { str: ce.correlationid },
      event_id: { str: ce.id },
      facts: e.facts ? { str: JSON.stringify(e.facts) } : undefined,
    },
    timeMs,
  );
}

export function alertPoint(e: AlertEvent, timeMs: number): string {
  const ce = e.cloudEvent;
  return line(
    'alerts',
    { site: e.site, severity: e.severity, rule: e.rule },
    {
      type: { str: ce.type },
      message: { str: ce.data.message },
      zone: { str: ce.data.zone },
      device: { str: ce.data.device },
      correlation_id: { str: ce.correlationid },
      event_id: { str: ce.id },
      alarm_id: e.alarmId === undefined ? undefined : { str: e.alarmId },
    },
    timeMs,
  );
}

export function deadLetterPoint(e: DeadLetterEvent, timeMs: number): string {
  return line(
    'deadletters',
    { reason: e.reason },
    {
      topic: { str: e.topic },
      payload: { str: e.payload },
      client_id: { str: e.clientId ?? '' },
      detail: { str: e.detail },
      event_id: { str: e.id },
    },
    timeMs,
  );
}

export function deviceStatusPoint(e: DeviceStatusEvent, timeMs: number): string {
  return line('device_status', { device: e.device }, { online: { bool: e.online }, event_id: { str: e.id } }, timeMs);
}

/** A device gone silent (or heard again): `device_status` like a status message, with `silent`. */
export function deviceSilencePoint(e: DeviceSilenceEvent, timeMs: number): string {
  return line('device_status', { device: e.device }, { online: { bool: !e.silent }, silent: { bool: e.silent }, event_id: { str: e.id } }, timeMs);
}

export function zoneArmedPoint(e: ZoneArmedEvent, timeMs: number): string {
  return line('zone_state', { site: e.site, zone: e.zone }, { armed: { bool: e.armed }, event_id: { str: e.id } }, timeMs);
}

export function actuatorStatePoint(e: ActuatorStateEvent, timeMs: number): string {
  return line(
    'actuator_state',
    { site: e.site, zone: e.zone, actuator: e.actuator },
    { state: { str: JSON.stringify(e.state) }, device: { str: e.device }, event_id: { str: e.id } },
    timeMs,
  );
}

export function nativeCommandPoint(e: NativeCommandEvent, timeMs: number): string {
  return line(
    'native_commands',
    { site: e.site, zone: e.zone, actuator: e.actuator, family: e.family },
    { topic: { str: e.topic }, payload: { str: e.payload }, command_id: { str: e.commandId }, device: { str: e.device }, error: e.error === undefined ? undefined : { str: e.error }, event_id: { str: e.id } },
    timeMs,
  );
}

export function statsPoint(e: GatewayStatsEvent, timeMs: number): string {
  const fields: Record<string, Fields[string]> = {};
  for (const [key, value] of Object.entries(e.measures)) fields[key] = value === undefined ? undefined : { float: value };
  for (const [key, value] of Object.entries(e.counts)) fields[key] = { int: value };
  fields['influx_up'] = { bool: e.influxUp };
  return line('gateway_stats', { host: e.host }, fields, timeMs);
}

/** `alarms`: one point per transition, tagged by the alarm's id and the transition (a restart reads the last one of each alarm). */
export function alarmPoint(e: AlarmTransitionEvent, timeMs: number): string {
  return line(
    'alarms',
    { alarm_id: e.alarmId, site: e.site, zone: e.zone, rule: e.rule, severity: e.severity, transition: e.transition },
    {
      type: { str: e.type },
      device: { str: e.device ?? '' },
      actuator: { str: e.actuator ?? '' },
      message: { str: e.message },
      count: { int: e.count },
      value: { str: JSON.stringify(e.value ?? null) },
      first_seen: { int: e.firstSeen },
      last_seen: { int: e.lastSeen },
      acknowledged: { bool: e.acknowledged },
      acknowledged_by: { str: e.acknowledgedBy ?? '' },
      active: { bool: e.active },
      notified_at: { int: e.notifiedAt },
      notifications: { int: e.notifications },
      reason: { str: e.reason ?? '' },
      facts: e.facts ? { str: JSON.stringify(e.facts) } : undefined,
      correlation_id: { str: e.correlationId },
      event_id: { str: e.id },
    },
    timeMs,
  );
}

/** `command_status`: one point per step of a command's saga. */
export function commandStatusPoint(e: CommandStatusEvent, timeMs: number): string {
  return line(
    'command_status',
    { site: e.site, zone: e.zone, actuator: e.actuator, status: e.status },
    {
      command_id: { str: e.commandId },
      rule: { str: e.rule },
      attempt: { int: e.attempt },
      data: { str: JSON.stringify(e.data) },
      reported: e.reported === undefined ? undefined : { str: JSON.stringify(e.reported) },
      detail: e.detail === undefined ? undefined : { str: e.detail },
      correlation_id: { str: e.correlationId },
      event_id: { str: e.id },
    },
    timeMs,
  );
}
