import type { ActuatorStateEvent, AlarmTransitionEvent, AlertData, AlertEvent, CommandEvent, CommandStatusEvent, DecidingFact, DeviceSilenceEvent, DeviceStatusEvent, ReadingEvent, Severity, ZoneArmedEvent } from '../core/events.js';
import type { HistoryItem, HistoryType } from '../core/history.js';
import { fromNumber, type Kind, type ReadingValue } from '../core/kinds.js';
import type { Row } from './influx-query.js';

/** Stored rows back to the events they were (DESIGN.md's layout, as storage/points.ts writes it): storage/history.ts reads them. */

/** The stored number back to the reading's value (booleans 1/0, keypad ok=1 fail=0). */
export const valueOf: (kind: Kind, stored: number) => ReadingValue = fromNumber;

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const iso = (ms: number): string => new Date(ms).toISOString();
const opt = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
function json<T>(v: unknown, fallback: T): T {
  if (typeof v !== 'string' || v === '') return fallback;
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
}

export function readingOf(kind: Kind, row: Row): ReadingEvent {
  const timeMs = num(row['time']);
  const time = iso(timeMs);
  const site = str(row['site']);
  const zone = str(row['zone']);
  const device = str(row['device']);
  const source = `${site}/${zone}/${device}`;
  const numeric = num(row['value']);
  const seq = row['seq'];
  return {
    id: opt(row['event_id']) ?? `${source}/${kind}/${timeMs}`,
    type: `sensor.${kind}`,
    source,
    time,
    receivedAt: time,
    seq: typeof seq === 'number' ? seq : undefined,
    site,
    zone,
    device,
    kind,
    value: valueOf(kind, numeric),
    numeric,
    timeMs,
    clientId: undefined,
  };
}

function commandOf(row: Row): CommandEvent {
  const timeMs = num(row['time']);
  const site = str(row['site']);
  const zone = str(row['zone']);
  const actuator = str(row['actuator']);
  const rule = str(row['rule']);
  const id = str(row['event_id']);
  const facts = json<DecidingFact[] | undefined>(row['facts'], undefined);
  return {
    kind: 'command',
    id,
    timeMs,
    topic: `commands/${site}/${zone}/${actuator}`,
    site,
    zone,
    actuator,
    rule,
    cloudEvent: {
      specversion: '1.0',
      id,
      type: str(row['type']),
      source: `rules/${rule}`,
      time: iso(timeMs),
      subject: `${site}/${zone}/${actuator}`,
      datacontenttype: 'application/json',
      correlationid: str(row['correlation_id']),
      data: json<Record<string, unknown>>(row['data'], {}),
    },
    ...(facts ? { facts } : {}),
  };
}

function alertOf(row: Row): AlertEvent {
  const timeMs = num(row['time']);
  const site = str(row['site']);
  const severity = str(row['severity']) as Severity;
  const rule = str(row['rule']);
  const id = str(row['event_id']);
  const data: AlertData = { severity, message: str(row['message']), site, zone: str(row['zone']), device: str(row['device']) };
  const alarmId = opt(row['alarm_id']);
  return {
    kind: 'alert',
    id,
    timeMs,
    topic: `alerts/${site}/${severity}`,
    site,
    severity,
    rule,
    cloudEvent: { specversion: '1.0', id, type: str(row['type']), source: `rules/${rule}`, time: iso(timeMs), datacontenttype: 'application/json', correlationid: str(row['correlation_id']), data },
    ...(alarmId ? { alarmId } : {}),
  };
}

function zoneArmedOf(row: Row): ZoneArmedEvent {
  const timeMs = num(row['time']);
  return { id: str(row['event_id']), site: str(row['site']), zone: str(row['zone']), armed: row['armed'] === true, time: iso(timeMs), timeMs };
}

function actuatorStateOf(row: Row): ActuatorStateEvent {
  const timeMs = num(row['time']);
  const cameBack = opt(row['came_back']);
  return {
    id: str(row['event_id']),
    site: str(row['site']),
    zone: str(row['zone']),
    actuator: str(row['actuator']),
    state: json<Record<string, unknown>>(row['state'], {}),
    device: str(row['device']),
    time: iso(timeMs),
    timeMs,
    clientId: undefined,
    ...(cameBack === undefined ? {} : { cameBack }),
  };
}

function commandStatusOf(row: Row): CommandStatusEvent {
  const timeMs = num(row['time']);
  return {
    id: str(row['event_id']),
    commandId: str(row['command_id']),
    status: str(row['status']) as CommandStatusEvent['status'],
    site: str(row['site']),
    zone: str(row['zone']),
    actuator: str(row['actuator']),
    rule: str(row['rule']),
    attempt: num(row['attempt']),
    data: json<Record<string, unknown>>(row['data'], {}),
    reported: json<Record<string, unknown> | undefined>(row['reported'], undefined),
    correlationId: str(row['correlation_id']),
    detail: opt(row['detail']),
    time: iso(timeMs),
    timeMs,
  };
}

function alarmOf(row: Row): AlarmTransitionEvent {
  const timeMs = num(row['time']);
  return {
    id: str(row['event_id']),
    alarmId: str(row['alarm_id']),
    transition: str(row['transition']) as AlarmTransitionEvent['transition'],
    rule: str(row['rule']),
    type: str(row['type']),
    severity: str(row['severity']) as Severity,
    site: str(row['site']),
    zone: str(row['zone']),
    device: opt(row['device']),
    actuator: opt(row['actuator']),
    message: str(row['message']),
    count: num(row['count']),
    value: json<unknown>(row['value'], null),
    firstSeen: num(row['first_seen']),
    lastSeen: num(row['last_seen']),
    acknowledged: row['acknowledged'] === true,
    acknowledgedBy: opt(row['acknowledged_by']),
    // Stored before the field existed: only a cleared one is not active.
    active: typeof row['active'] === 'boolean' ? row['active'] : str(row['transition']) !== 'cleared',
    notifiedAt: num(row['notified_at']),
    notifications: num(row['notifications']),
    correlationId: str(row['correlation_id']),
    reason: opt(row['reason']),
    facts: json<DecidingFact[] | undefined>(row['facts'], undefined),
    time: iso(timeMs),
    timeMs,
  };
}

/** A `device_status` point with `silent` is the gateway's finding (ingest/silence.ts), without it what the device said. */
const isSilence = (row: Row): boolean => typeof row['silent'] === 'boolean';

function deviceStatusOf(row: Row): DeviceStatusEvent {
  const timeMs = num(row['time']);
  return { id: str(row['event_id']), device: str(row['device']), online: row['online'] === true, time: iso(timeMs), timeMs, clientId: undefined };
}

function deviceSilenceOf(row: Row): DeviceSilenceEvent {
  const timeMs = num(row['time']);
  return { id: str(row['event_id']), device: str(row['device']), silent: row['silent'] === true, lastHeardMs: timeMs, time: iso(timeMs), timeMs };
}

/** A `device_status` row as what it is: a status, or a silence. */
export const deviceItem = (row: Row): HistoryItem => (isSilence(row) ? { type: 'deviceSilence', event: deviceSilenceOf(row) } : { type: 'deviceStatus', event: deviceStatusOf(row) });

/** Measurement → how its rows become items (undefined: a row of the measurement that is another type's). */
export const MEASUREMENTS: Readonly<Record<Exclude<HistoryType, 'reading'>, { readonly name: string; readonly item: (row: Row) => HistoryItem | undefined }>> = {
  zoneArmed: { name: 'zone_state', item: (r) => ({ type: 'zoneArmed', event: zoneArmedOf(r) }) },
  command: { name: 'commands', item: (r) => ({ type: 'command', event: commandOf(r) }) },
  alert: { name: 'alerts', item: (r) => ({ type: 'alert', event: alertOf(r) }) },
  actuatorState: { name: 'actuator_state', item: (r) => ({ type: 'actuatorState', event: actuatorStateOf(r) }) },
  commandStatus: { name: 'command_status', item: (r) => ({ type: 'commandStatus', event: commandStatusOf(r) }) },
  alarm: { name: 'alarms', item: (r) => ({ type: 'alarm', event: alarmOf(r) }) },
  deviceStatus: { name: 'device_status', item: (r) => (isSilence(r) ? undefined : { type: 'deviceStatus', event: deviceStatusOf(r) }) },
  deviceSilence: { name: 'device_status', item: (r) => (isSilence(r) ? { type: 'deviceSilence', event: deviceSilenceOf(r) } : undefined) },
};
