import { setTimeout as sleep } from 'node:timers/promises';
import { escape } from 'influx';
import type { ActuatorStateEvent, AlarmTransitionEvent, AlertData, AlertEvent, CommandEvent, CommandStatusEvent, DecidingFact, ReadingEvent, Severity, ZoneArmedEvent } from '../core/events.js';
import { byTime, type History, type HistoryItem, type HistoryRange, type HistoryType } from '../core/history.js';
import { isKind, kindNames, kindSpec, type Kind, type ReadingValue } from '../core/kinds.js';
import { InfluxQuery, rowsOf, type QuerySeries, type Row } from './influx-query.js';

/**
 * The history port over InfluxDB (DESIGN.md's layout and the README's additions): stored events
 * read back as the events they were. Used by the rules' rebuild at start, the lab's replay and
 * the trace. Knows the layout because storage/points.ts writes it.
 */

/** Every kind's measurement (the device map can add kinds while the gateway runs). */
const readingMeasurements = (): string => `/^(${kindNames().join('|')})$/`;
const DEFAULT_TYPES: readonly HistoryType[] = ['reading', 'zoneArmed', 'command', 'actuatorState', 'commandStatus', 'alarm'];

/** The stored number back to the reading's value (booleans 1/0, keypad ok=1 fail=0). */
export function valueOf(kind: Kind, stored: number): ReadingValue {
  const schema = (kindSpec(kind)?.valueSchema ?? {}) as { type?: string; enum?: readonly string[] };
  if (schema.enum) return stored === 1 ? 'ok' : 'fail';
  if (schema.type === 'boolean') return stored === 1;
  return stored;
}

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
/** A `last(*)` answer names its columns `last_<field>`. */
const unprefix = (row: Row): Row => Object.fromEntries(Object.entries(row).map(([k, v]) => [k.startsWith('last_') ? k.slice(5) : k, v]));

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

/** Measurement → how its rows become items. */
const MEASUREMENTS: Readonly<Record<Exclude<HistoryType, 'reading'>, { readonly name: string; readonly item: (row: Row) => HistoryItem }>> = {
  zoneArmed: { name: 'zone_state', item: (r) => ({ type: 'zoneArmed', event: zoneArmedOf(r) }) },
  command: { name: 'commands', item: (r) => ({ type: 'command', event: commandOf(r) }) },
  alert: { name: 'alerts', item: (r) => ({ type: 'alert', event: alertOf(r) }) },
  actuatorState: { name: 'actuator_state', item: (r) => ({ type: 'actuatorState', event: actuatorStateOf(r) }) },
  commandStatus: { name: 'command_status', item: (r) => ({ type: 'commandStatus', event: commandStatusOf(r) }) },
  alarm: { name: 'alarms', item: (r) => ({ type: 'alarm', event: alarmOf(r) }) },
};

function readingItems(series: readonly QuerySeries[]): HistoryItem[] {
  const out: HistoryItem[] = [];
  for (const row of rowsOf(series)) if (isKind(row.$measurement)) out.push({ type: 'reading', event: readingOf(row.$measurement, row) });
  return out;
}

export interface InfluxHistoryOptions {
  readonly url: string;
  readonly database: string;
  /** A 2.x token (the compatibility `/query` endpoint; `database` is then the bucket). */
  readonly token?: string;
  /** Events kept but not yet in the database (the spool's); 0 when none. */
  readonly pending?: () => number;
  /** Whether the database answers now. */
  readonly up?: () => boolean;
}

export class InfluxHistory implements History {
  readonly description: string;
  private readonly q: InfluxQuery;

  constructor(private readonly o: InfluxHistoryOptions) {
    this.q = new InfluxQuery(o.url, o.database, { token: o.token });
    this.description = this.q.description;
  }

  async caughtUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((this.o.pending?.() ?? 0) === 0) return true;
      if (this.o.up && !this.o.up()) return false;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }

  async latestBefore(ms: number): Promise<HistoryItem[]> {
    const types: Exclude<HistoryType, 'reading' | 'alert' | 'commandStatus'>[] = ['zoneArmed', 'command', 'actuatorState', 'alarm'];
    const results = await this.q.run(types.map((t) => `SELECT last(*) FROM "${MEASUREMENTS[t].name}" WHERE time < ${Math.trunc(ms)}ms GROUP BY *`));
    const items: HistoryItem[] = [];
    types.forEach((t, i) => {
      for (const row of rowsOf(results[i] ?? [])) items.push(MEASUREMENTS[t].item(unprefix(row)));
    });
    // Commands are series by rule as well, alarms by transition: keep the last one per actuator, per alarm.
    const last = new Map<string, HistoryItem>();
    for (const item of items) {
      const key =
        item.type === 'command' ? `c|${item.event.site}/${item.event.zone}/${item.event.actuator}` : item.type === 'alarm' ? `a|${item.event.alarmId}` : `${item.type}|${item.event.id}|${item.event.timeMs}`;
      const seen = last.get(key);
      if (!seen || seen.event.timeMs < item.event.timeMs) last.set(key, item);
    }
    return [...last.values()].sort(byTime);
  }

  async *read(range: HistoryRange): AsyncIterable<HistoryItem[]> {
    const types = range.types ?? DEFAULT_TYPES;
    const chunkMs = range.chunkMs ?? 15 * 60_000;
    const where = [range.site !== undefined ? `"site" = ${escape.stringLit(range.site)}` : '', range.zone !== undefined ? `"zone" = ${escape.stringLit(range.zone)}` : ''].filter(Boolean);
    for (let from = range.fromMs; from < range.toMs; from += chunkMs) {
      const to = Math.min(from + chunkMs, range.toMs);
      const filter = [`time >= ${Math.trunc(from)}ms`, `time < ${Math.trunc(to)}ms`, ...where].join(' AND ');
      const statements: string[] = [];
      const readers: ((s: readonly QuerySeries[]) => HistoryItem[])[] = [];
      for (const t of types) {
        if (t === 'reading') {
          for (const kind of kindNames()) {
            statements.push(`SELECT "value", "seq", "event_id", "site", "zone", "device" FROM "${kind}" WHERE ${filter}`);
            readers.push((s) => rowsOf(s).map((row) => ({ type: 'reading', event: readingOf(kind, row) })));
          }
        } else {
          statements.push(`SELECT * FROM "${MEASUREMENTS[t].name}" WHERE ${filter}`);
          readers.push((s) => rowsOf(s).map((row) => MEASUREMENTS[t].item(row)));
        }
      }
      const results = await this.q.run(statements);
      const items = readers.flatMap((read, i) => read(results[i] ?? []));
      items.sort(byTime);
      yield items;
    }
  }

  async related(ids: readonly string[], range: { readonly fromMs?: number; readonly toMs?: number } = {}): Promise<HistoryItem[]> {
    if (ids.length === 0) return [];
    const any = (fields: readonly string[]) => `(${fields.flatMap((f) => ids.map((id) => `"${f}" = ${escape.stringLit(id)}`)).join(' OR ')})`;
    const time = [range.fromMs !== undefined ? `time >= ${Math.trunc(range.fromMs)}ms` : '', range.toMs !== undefined ? `time < ${Math.trunc(range.toMs)}ms` : ''].filter(Boolean);
    const where = (fields: readonly string[]) => [any(fields), ...time].join(' AND ');
    const plan: [string, (s: readonly QuerySeries[]) => HistoryItem[]][] = [
      [`SELECT * FROM ${readingMeasurements()} WHERE ${where(['event_id'])}`, readingItems],
      [`SELECT * FROM "commands" WHERE ${where(['event_id', 'correlation_id'])}`, (s) => rowsOf(s).map(MEASUREMENTS.command.item)],
      [`SELECT * FROM "alerts" WHERE ${where(['event_id', 'correlation_id', 'alarm_id'])}`, (s) => rowsOf(s).map(MEASUREMENTS.alert.item)],
      [`SELECT * FROM "command_status" WHERE ${where(['event_id', 'command_id', 'correlation_id'])}`, (s) => rowsOf(s).map(MEASUREMENTS.commandStatus.item)],
      [`SELECT * FROM "alarms" WHERE ${where(['event_id', 'alarm_id', 'correlation_id'])}`, (s) => rowsOf(s).map(MEASUREMENTS.alarm.item)],
      [`SELECT * FROM "actuator_state" WHERE ${where(['event_id'])}`, (s) => rowsOf(s).map(MEASUREMENTS.actuatorState.item)],
    ];
    const results = await this.q.run(plan.map(([statement]) => statement));
    return plan.flatMap(([, read], i) => read(results[i] ?? [])).sort(byTime);
  }
}
