import { setTimeout as sleep } from 'node:timers/promises';
import { byTime, HISTORY_ORDER, type CatchUp, type History, type HistoryItem, type HistoryRange, type HistoryType } from '../core/history.js';
import { isKind, kindNames } from '../core/kinds.js';
import { deviceItem, MEASUREMENTS, readingOf } from './history-rows.js';
import { capped, planChunks, type ChunkSpan } from './history-plan.js';
import { InfluxQuery, rowsOf, type QuerySeries } from './influx-query.js';
import { stringLiteral } from './influxql.js';

export { readingOf, valueOf } from './history-rows.js';

/**
 * The history port over InfluxDB (DESIGN.md's layout and the README's additions): stored events
 * read back as the events they were. Used by the rules' rebuild at start, the lab's replay and
 * the trace. Knows the layout because storage/points.ts writes it.
 */

/** Every kind's measurement (the device map can add kinds while the gateway runs). */
const readingMeasurements = (): string => `/^(${kindNames().join('|')})$/`;
const DEFAULT_TYPES: readonly HistoryType[] = ['reading', 'zoneArmed', 'command', 'actuatorState', 'commandStatus', 'alarm'];
/** The items of a measurement's rows (those of its type: `device_status` holds two). */
const itemsOf = (t: Exclude<HistoryType, 'reading'>, series: readonly QuerySeries[]): HistoryItem[] =>
  rowsOf(series).flatMap((row) => MEASUREMENTS[t].item(row) ?? []);

function readingItems(series: readonly QuerySeries[]): HistoryItem[] {
  const out: HistoryItem[] = [];
  for (const row of rowsOf(series)) if (isKind(row.$measurement)) out.push({ type: 'reading', event: readingOf(row.$measurement, row) });
  return out;
}

/** A `site` condition for these sites (a regular expression: one query whatever their number); undefined when none can match. */
function siteIn(sites: readonly string[]): string | undefined {
  if (sites.length === 0) return undefined;
  return `"site" =~ /^(${sites.map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$/`;
}
const SITELESS: readonly HistoryType[] = ['deviceStatus', 'deviceSilence'];

/** How long the history waits for InfluxDB's `/ping`: only to check the sink's "does not answer", which took its own ping or write. */
const PING_MS = 1000;

/** Paging back for a device's last status behind its silences: 10 pages of 100 points (50 silences and returns) at most. */
const STATUS_PAGE = 100;
const STATUS_PAGES = 10;
const STATUS_DEVICES_PER_QUERY = 200;

export interface InfluxHistoryOptions {
  readonly url: string;
  readonly database: string;
  /** A 2.x token (the compatibility `/query` endpoint; `database` is then the bucket). */
  readonly token?: string;
  /** Events kept but not yet in the database (the spool's); 0 when none. */
  readonly pending?: () => number;
  /** Whether the database answers now (the sink's writes and pings); a query in flight when it turns false is abandoned. */
  readonly up?: () => boolean;
  /** At most this many readings per chunk `read` yields (storage/history-plan.ts); 50,000 by default. */
  readonly chunkRows?: number;
}

export class InfluxHistory implements History {
  readonly description: string;
  private readonly q: InfluxQuery;
  private readonly chunkRows: number;

  constructor(private readonly o: InfluxHistoryOptions) {
    this.q = new InfluxQuery(o.url, o.database, { token: o.token, ...(o.up ? { stillUp: o.up } : {}) });
    this.description = this.q.description;
    this.chunkRows = o.chunkRows ?? 50_000;
  }

  async caughtUp(timeoutMs: number): Promise<CatchUp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const drained = (this.o.pending?.() ?? 0) === 0;
      // The sink found it does not answer: no drain can happen. Asked once more (refused at once,
      // hung after PING_MS) before it is called down: the sink's word may be a few seconds old.
      if (this.o.up && !this.o.up()) return (await this.q.ping(PING_MS)) ? (drained ? 'drained' : 'late') : 'down';
      if (drained) return 'drained';
      if (Date.now() >= deadline) return 'late';
      await sleep(50);
    }
  }

  async sites(): Promise<string[]> {
    const [series = []] = await this.q.run(['SHOW TAG VALUES WITH KEY = "site"']);
    return [...new Set(series.flatMap((s) => s.values.map((v) => String(v[1]))))];
  }

  async latestBefore(ms: number, sites?: readonly string[]): Promise<HistoryItem[]> {
    const ofSites = sites === undefined ? undefined : siteIn(sites);
    const types: Exclude<HistoryType, 'reading' | 'alert' | 'commandStatus' | 'deviceStatus' | 'deviceSilence'>[] = sites !== undefined && ofSites === undefined ? [] : ['zoneArmed', 'command', 'actuatorState', 'alarm'];
    const before = `time < ${Math.trunc(ms)}ms`;
    // Each series' last point whole, at its own time. Not `last(*)`: InfluxDB 1.x answers it with
    // time 0 and each field's own last value (a field absent from the newest point comes from an
    // older one), so the newest command of an actuator could not be told from an older one.
    const lastOf = (measurement: string, groupBy: string, where = before) => `SELECT * FROM "${measurement}" WHERE ${where} GROUP BY ${groupBy} ORDER BY time DESC LIMIT 1`;
    // A device's statuses and silences are one series: one row per device.
    const results = await this.q.run([...types.map((t) => lastOf(MEASUREMENTS[t].name, '*', [before, ofSites].filter(Boolean).join(' AND '))), lastOf('device_status', '"device"')]);
    const items: HistoryItem[] = [];
    types.forEach((t, i) => {
      for (const row of rowsOf(results[i] ?? [])) {
        const item = MEASUREMENTS[t].item(row);
        if (item) items.push(item);
      }
    });
    const devices = rowsOf(results[types.length] ?? []).map(deviceItem);
    items.push(...devices);
    // A device's last point may be a silence: what it last said (online, or offline) is further back.
    items.push(...(await this.lastStatusesBefore(ms, devices.flatMap((d) => (d.type === 'deviceSilence' ? [d.event.device] : [])))));
    // Commands are series by rule as well, alarms by transition: keep the last one per actuator, per alarm.
    const last = new Map<string, HistoryItem>();
    for (const item of items) {
      const key =
        item.type === 'command' ? `c|${item.event.site}/${item.event.zone}/${item.event.actuator}` : item.type === 'alarm' ? `a|${item.event.alarmId}` : `${item.type}|${item.event.id}|${item.event.timeMs}`;
      const seen = last.get(key);
      // At one time an alarm's `cleared` wins over the `acknowledged` stored with it (byTime's order of transitions).
      if (!seen || seen.event.timeMs < item.event.timeMs || (item.type === 'alarm' && byTime(seen, item) < 0)) last.set(key, item);
    }
    return [...last.values()].sort(byTime);
  }

  /**
   * Each device's last status before `ms`, its silences skipped (InfluxQL cannot ask for points
   * without a field): pages back from `ms`, STATUS_PAGE points of each device at a time, at most
   * STATUS_PAGES pages; a device without one in them (it never said) is left out.
   */
  private async lastStatusesBefore(ms: number, devices: readonly string[]): Promise<HistoryItem[]> {
    const found: HistoryItem[] = [];
    let left = devices;
    for (let page = 0; page < STATUS_PAGES && left.length > 0; page++) {
      const statements: string[] = [];
      for (let i = 0; i < left.length; i += STATUS_DEVICES_PER_QUERY) {
        const which = left.slice(i, i + STATUS_DEVICES_PER_QUERY).map((d) => `"device" = ${stringLiteral(d)}`);
        statements.push(`SELECT * FROM "device_status" WHERE time < ${Math.trunc(ms)}ms AND (${which.join(' OR ')}) GROUP BY "device" ORDER BY time DESC LIMIT ${STATUS_PAGE} OFFSET ${page * STATUS_PAGE}`);
      }
      const next: string[] = [];
      for (const series of (await this.q.run(statements)).flat()) {
        const status = rowsOf([series]).map(deviceItem).find((item) => item.type === 'deviceStatus');
        const device = series.tags?.['device'];
        if (status) found.push(status);
        else if (device !== undefined && series.values.length === STATUS_PAGE) next.push(device);
      }
      left = next;
    }
    return found;
  }

  async *read(range: HistoryRange): AsyncIterable<HistoryItem[]> {
    const ofSites = range.sites === undefined ? undefined : siteIn(range.sites);
    // No site to read: only what names none.
    const types = (range.types ?? DEFAULT_TYPES).filter((t) => range.sites === undefined || ofSites !== undefined || SITELESS.includes(t));
    const chunkMs = range.chunkMs ?? 15 * 60_000;
    const where = [range.site !== undefined ? `"site" = ${stringLiteral(range.site)}` : '', ofSites ?? '', range.zone !== undefined ? `"zone" = ${stringLiteral(range.zone)}` : ''].filter(Boolean);
    const others = types.filter((t): t is Exclude<HistoryType, 'reading'> => t !== 'reading');
    const early = (t: HistoryType): boolean => HISTORY_ORDER[t] < HISTORY_ORDER.reading;
    // Without readings, fixed chunks of time (the other measurements are few).
    const spans: AsyncIterable<ChunkSpan> | Iterable<ChunkSpan> = types.includes('reading')
      ? planChunks(this.q, { fromMs: range.fromMs, toMs: range.toMs, maxMs: chunkMs, maxRows: this.chunkRows, measurements: readingMeasurements(), where })
      : capped({ fromMs: range.fromMs, toMs: range.toMs, others: 'all' }, chunkMs);
    for await (const span of spans) {
      const time = `time >= ${Math.trunc(span.fromMs)}ms AND time < ${Math.trunc(span.toMs)}ms`;
      const filter = [time, ...where].join(' AND ');
      const statements: string[] = [];
      const readers: ((s: readonly QuerySeries[]) => HistoryItem[])[] = [];
      const kinds = span.page ? [span.page.kind] : span.others === 'all' && types.includes('reading') ? kindNames() : [];
      const paging = span.page ? ` ORDER BY time LIMIT ${span.page.limit} OFFSET ${span.page.offset}` : '';
      for (const kind of kinds) {
        statements.push(`SELECT "value", "seq", "event_id", "site", "zone", "device" FROM "${kind}" WHERE ${filter}${paging}`);
        readers.push((s) => rowsOf(s).map((row) => ({ type: 'reading', event: readingOf(kind, row) })));
      }
      for (const t of others) {
        if (span.others === 'none' || (span.others === 'early' && !early(t)) || (span.others === 'late' && early(t))) continue;
        // A device's status names no site: `sites` would find none of them.
        statements.push(`SELECT * FROM "${MEASUREMENTS[t].name}" WHERE ${SITELESS.includes(t) ? [time, ...where.filter((w) => w !== ofSites)].join(' AND ') : filter}`);
        readers.push((s) => itemsOf(t, s));
      }
      const results = await this.q.run(statements);
      const items = readers.flatMap((read, i) => read(results[i] ?? []));
      items.sort(byTime);
      // A page of one millisecond's readings has none (another measurement held them).
      if (items.length > 0 || !span.page) yield items;
    }
  }

  async related(ids: readonly string[], range: { readonly fromMs?: number; readonly toMs?: number } = {}): Promise<HistoryItem[]> {
    if (ids.length === 0) return [];
    const any = (fields: readonly string[]) => `(${fields.flatMap((f) => ids.map((id) => `"${f}" = ${stringLiteral(id)}`)).join(' OR ')})`;
    const time = [range.fromMs !== undefined ? `time >= ${Math.trunc(range.fromMs)}ms` : '', range.toMs !== undefined ? `time < ${Math.trunc(range.toMs)}ms` : ''].filter(Boolean);
    const where = (fields: readonly string[]) => [any(fields), ...time].join(' AND ');
    const plan: [string, (s: readonly QuerySeries[]) => HistoryItem[]][] = [
      [`SELECT * FROM ${readingMeasurements()} WHERE ${where(['event_id'])}`, readingItems],
      [`SELECT * FROM "commands" WHERE ${where(['event_id', 'correlation_id'])}`, (s) => itemsOf('command', s)],
      [`SELECT * FROM "alerts" WHERE ${where(['event_id', 'correlation_id', 'alarm_id'])}`, (s) => itemsOf('alert', s)],
      [`SELECT * FROM "command_status" WHERE ${where(['event_id', 'command_id', 'correlation_id'])}`, (s) => itemsOf('commandStatus', s)],
      [`SELECT * FROM "alarms" WHERE ${where(['event_id', 'alarm_id', 'correlation_id'])}`, (s) => itemsOf('alarm', s)],
      [`SELECT * FROM "actuator_state" WHERE ${where(['event_id'])}`, (s) => itemsOf('actuatorState', s)],
    ];
    const results = await this.q.run(plan.map(([statement]) => statement));
    return plan.flatMap(([, read], i) => read(results[i] ?? [])).sort(byTime);
  }
}
