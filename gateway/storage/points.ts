import type { ActuatorStateEvent, AlarmTransitionEvent, AlertEvent, CommandEvent, CommandStatusEvent, DeadLetterEvent, DeviceSilenceEvent, DeviceStatusEvent, GatewayStatsEvent, NativeCommandEvent, ReadingEvent, ZoneArmedEvent } from '../core/events.js';
import { floatField, intField, line, stringField, type Fields, type PointTimeOf } from './line.js';

/**
 * Events to InfluxDB points, exactly as DESIGN.md lays them out. Each function returns one
 * `\n`-terminated line at the point time (ns, a string) that storage/event-store.ts chooses for
 * the point's series; the same event at the same time always yields the same line (idempotent writes).
 */

/** A reading's series as its line starts: `<kind>,device=…,site=…,zone=…`. */
export function readingSeries(e: ReadingEvent): string {
  return `${e.kind},device=${e.device},site=${e.site},zone=${e.zone}`;
}

/**
 * `<kind>,device,site,zone value=…,seq=…i,event_id="…" <ns>`: the hot path, so no generic loop,
 * and no tag escaping: site, zone and device passed the topic's `[A-Za-z0-9_-]{1,64}` check.
 */
export function readingPoint(e: ReadingEvent, time: string): string {
  const seq = e.seq === undefined ? '' : `,seq=${intField(e.seq)}`;
  return `${e.kind},device=${e.device},site=${e.site},zone=${e.zone} value=${floatField(e.numeric)}${seq},event_id=${stringField(e.id)} ${time}\n`;
}

export function commandPoint(e: CommandEvent, time: PointTimeOf): string {
  const ce = e.cloudEvent;
  return line(
    'commands',
    { actuator: e.actuator, rule: e.rule, site: e.site, zone: e.zone },
    {
      type: { str: ce.type },
      data: { json: ce.data },
      correlation_id: { str: ce.correlationid },
      event_id: { str: ce.id },
      facts: e.facts ? { json: e.facts } : undefined,
    },
    time,
  );
}

export function alertPoint(e: AlertEvent, time: PointTimeOf): string {
  const ce = e.cloudEvent;
  return line(
    'alerts',
    { rule: e.rule, severity: e.severity, site: e.site },
    {
      type: { str: ce.type },
      message: { str: ce.data.message },
      zone: { str: ce.data.zone },
      device: { str: ce.data.device },
      correlation_id: { str: ce.correlationid },
      event_id: { str: ce.id },
      alarm_id: e.alarmId === undefined ? undefined : { str: e.alarmId },
    },
    time,
  );
}

export function deadLetterPoint(e: DeadLetterEvent, time: PointTimeOf): string {
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
    time,
  );
}

export function deviceStatusPoint(e: DeviceStatusEvent, time: PointTimeOf): string {
  return line('device_status', { device: e.device }, { online: { bool: e.online }, event_id: { str: e.id } }, time);
}

/** A device gone silent (or heard again): `device_status` like a status message, with `silent`. */
export function deviceSilencePoint(e: DeviceSilenceEvent, time: PointTimeOf): string {
  return line('device_status', { device: e.device }, { online: { bool: !e.silent }, silent: { bool: e.silent }, event_id: { str: e.id } }, time);
}

export function zoneArmedPoint(e: ZoneArmedEvent, time: PointTimeOf): string {
  return line('zone_state', { site: e.site, zone: e.zone }, { armed: { bool: e.armed }, event_id: { str: e.id } }, time);
}

/** `came_back` only when the device had just come back: a cluster's partition owner and a rebuild read the report as it was taken. */
export function actuatorStatePoint(e: ActuatorStateEvent, time: PointTimeOf): string {
  return line(
    'actuator_state',
    { actuator: e.actuator, site: e.site, zone: e.zone },
    { state: { json: e.state }, device: { str: e.device }, came_back: e.cameBack === undefined ? undefined : { str: e.cameBack }, event_id: { str: e.id } },
    time,
  );
}

export function nativeCommandPoint(e: NativeCommandEvent, time: PointTimeOf): string {
  return line(
    'native_commands',
    { actuator: e.actuator, family: e.family, site: e.site, zone: e.zone },
    { topic: { str: e.topic }, payload: { str: e.payload }, command_id: { str: e.commandId }, device: { str: e.device }, error: e.error === undefined ? undefined : { str: e.error }, event_id: { str: e.id } },
    time,
  );
}

export function statsPoint(e: GatewayStatsEvent, time: PointTimeOf): string {
  const fields: Record<string, Fields[string]> = {};
  for (const [key, value] of Object.entries(e.measures)) fields[key] = value === undefined ? undefined : { float: value };
  for (const [key, value] of Object.entries(e.counts)) fields[key] = { int: value };
  fields['influx_up'] = { bool: e.influxUp };
  return line('gateway_stats', e.node === undefined ? { host: e.host } : { host: e.host, node: e.node }, fields, time);
}

/** `alarms`: one point per transition, tagged by the alarm's id and the transition (a restart reads the last one of each alarm). */
export function alarmPoint(e: AlarmTransitionEvent, time: PointTimeOf): string {
  return line(
    'alarms',
    { alarm_id: e.alarmId, rule: e.rule, severity: e.severity, site: e.site, transition: e.transition, zone: e.zone },
    {
      type: { str: e.type },
      device: { str: e.device ?? '' },
      actuator: { str: e.actuator ?? '' },
      message: { str: e.message },
      count: { int: e.count },
      value: { json: e.value ?? null },
      first_seen: { int: e.firstSeen },
      last_seen: { int: e.lastSeen },
      acknowledged: { bool: e.acknowledged },
      acknowledged_by: { str: e.acknowledgedBy ?? '' },
      active: { bool: e.active },
      notified_at: { int: e.notifiedAt },
      notifications: { int: e.notifications },
      reason: { str: e.reason ?? '' },
      facts: e.facts ? { json: e.facts } : undefined,
      correlation_id: { str: e.correlationId },
      event_id: { str: e.id },
    },
    time,
  );
}

/** `command_status`: one point per step of a command's saga. */
export function commandStatusPoint(e: CommandStatusEvent, time: PointTimeOf): string {
  return line(
    'command_status',
    { actuator: e.actuator, site: e.site, status: e.status, zone: e.zone },
    {
      command_id: { str: e.commandId },
      rule: { str: e.rule },
      attempt: { int: e.attempt },
      data: { json: e.data },
      reported: e.reported === undefined ? undefined : { json: e.reported },
      detail: e.detail === undefined ? undefined : { str: e.detail },
      correlation_id: { str: e.correlationId },
      event_id: { str: e.id },
    },
    time,
  );
}
