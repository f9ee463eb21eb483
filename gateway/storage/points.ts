import type { ActuatorStateEvent, AlertEvent, CommandEvent, DeadLetterEvent, DeviceSilenceEvent, DeviceStatusEvent, GatewayStatsEvent, NativeCommandEvent, ReadingEvent, ZoneArmedEvent } from '../core/events.js';
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
    { type: { str: ce.type }, data: { str: JSON.stringify(ce.data) }, correlation_id: { str: ce.correlationid }, event_id: { str: ce.id } },
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
