import type { AlertEvent, CommandEvent, DeadLetterEvent, DeviceSilenceEvent, DeviceStatusEvent, ReadingEvent, ZoneArmedEvent } from '../events.js';
import { floatField, intField, line, stringField } from './line.js';

/**
 * Events to InfluxDB points, exactly as DESIGN.md lays them out. Each function returns one
 * `\n`-terminated line; the same event always yields the same line (idempotent writes).
 */

/**
 * `<kind>,device,site,zone value=…,seq=…i,event_id="…" <ms>`: the hot path, so no generic loop,
 * and no tag escaping: site, zone and device passed the topic's `[A-Za-z0-9_-]{1,64}` check.
 */
export function readingPoint(e: ReadingEvent): string {
  const seq = e.seq === undefined ? '' : `,seq=${intField(e.seq)}`;
  return `${e.kind},device=${e.device},site=${e.site},zone=${e.zone} value=${floatField(e.numeric)}${seq},event_id=${stringField(e.id)} ${e.timeMs}\n`;
}

export function commandPoint(e: CommandEvent): string {
  const ce = e.cloudEvent;
  return line(
    'commands',
    { site: e.site, zone: e.zone, actuator: e.actuator, rule: e.rule },
    { type: { str: ce.type }, data: { str: JSON.stringify(ce.data) }, correlation_id: { str: ce.correlationid }, event_id: { str: ce.id } },
    e.timeMs,
  );
}

export function alertPoint(e: AlertEvent): string {
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
    e.timeMs,
  );
}

export function deadLetterPoint(e: DeadLetterEvent): string {
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
    e.timeMs,
  );
}

export function deviceStatusPoint(e: DeviceStatusEvent): string {
  return line('device_status', { device: e.device }, { online: { bool: e.online }, event_id: { str: e.id } }, e.timeMs);
}

/** A device gone silent (or heard again): `device_status` like a status message, with `silent`. */
export function deviceSilencePoint(e: DeviceSilenceEvent): string {
  return line('device_status', { device: e.device }, { online: { bool: !e.silent }, silent: { bool: e.silent }, event_id: { str: e.id } }, e.timeMs);
}

export function zoneArmedPoint(e: ZoneArmedEvent): string {
  return line('zone_state', { site: e.site, zone: e.zone }, { armed: { bool: e.armed }, event_id: { str: e.id } }, e.timeMs);
}
