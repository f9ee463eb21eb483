import { escape, type InfluxDB } from 'influx';
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { ReadingEvent } from '../core/events.js';
import { KIND_NAMES, KINDS, type Kind, type ReadingValue } from '../core/kinds.js';
import { influxClient } from '../storage/influx1.js';
import { RulesSandbox, type SandboxOutput } from './sandbox.js';

/**
 * Replays stored readings from InfluxDB (DESIGN.md's layout) through a rule set as a dry run:
 * a sandbox on a manual clock that the readings' own times drive, so windows, held-for and
 * absence timers behave as they would have; what the rules would have published is listed,
 * nothing is published or written. Readings are read in time chunks, all kinds at once.
 */

export interface ReplayOptions {
  readonly influxUrl: string;
  readonly database: string;
  readonly fromMs: number;
  readonly toMs: number;
  /** Readings before `fromMs` replayed first to fill windows and state; their firings are not listed. */
  readonly warmupMs?: number;
  readonly rulesDir: string;
  readonly ruleFiles?: readonly string[];
  readonly site?: string;
  readonly zone?: string;
  /** How much time one query covers (default 15 minutes). */
  readonly chunkMs?: number;
  readonly log?: Logger;
  readonly onProgress?: (p: ReplayProgress) => void;
  readonly onFiring?: (f: ReplayFiring) => void;
}

export interface ReplayProgress {
  /** Simulated time reached, epoch ms. */
  readonly atMs: number;
  readonly fromMs: number;
  readonly toMs: number;
  readonly readings: number;
  readonly firings: number;
}

export interface ReplayFiring {
  readonly time: string;
  readonly timeMs: number;
  readonly type: 'command' | 'alert';
  readonly topic: string;
  readonly rule: string;
  /** A command's data, or an alert's message. */
  readonly data: unknown;
  /** The stored reading that caused it (its event_id). */
  readonly correlationId: string;
}

export interface ReplaySummary {
  readonly fromMs: number;
  readonly toMs: number;
  readonly readings: number;
  readonly firings: readonly ReplayFiring[];
  readonly byRule: Readonly<Record<string, number>>;
}

type Row = { time: { getTime(): number }; value: number; seq?: number | null; event_id?: string | null; site: string; zone: string; device: string };


/** The stored number back to the reading's value (booleans 1/0, keypad ok=1 fail=0). */
export function valueOf(kind: Kind, stored: number): ReadingValue {
  const schema = KINDS[kind].valueSchema as { type?: string; enum?: readonly string[] };
  if (schema.enum) return stored === 1 ? 'ok' : 'fail';
  if (schema.type === 'boolean') return stored === 1;
  return stored;
}

function toReading(kind: Kind, row: Row): ReadingEvent {
  const timeMs = row.time.getTime();
  const time = new Date(timeMs).toISOString();
  const source = `${row.site}/${row.zone}/${row.device}`;
  return {
    id: row.event_id ?? `${source}/${kind}/${timeMs}`,
    type: `sensor.${kind}`,
    source,
    time,
    receivedAt: time,
    seq: row.seq ?? undefined,
    site: row.site,
    zone: row.zone,
    device: row.device,
    kind,
    value: valueOf(kind, row.value),
    numeric: row.value,
    timeMs,
    receivedAtMs: timeMs,
    judgedMs: timeMs,
    clientId: undefined,
  };
}

function firing(o: SandboxOutput): ReplayFiring | undefined {
  const [root] = o.topic.split('/');
  if (root !== 'commands' && root !== 'alerts') return undefined;
  const p = o.payload as { source?: string; correlationid?: string; time?: string; data?: { message?: string } };
  const timeMs = Date.parse(p.time ?? '') || o.at;
  return {
    time: new Date(timeMs).toISOString(),
    timeMs,
    type: root === 'commands' ? 'command' : 'alert',
    topic: o.topic,
    rule: (p.source ?? '').replace(/^rules\//, ''),
    data: root === 'commands' ? p.data : p.data?.message,
    correlationId: p.correlationid ?? '',
  };
}

async function query<T>(influx: InfluxDB, q: string[], what: string): Promise<T[][]> {
  try {
    const results = (await influx.query<T>(q, { precision: 'ms' })) as unknown as T[][] | T[];
    // The client unwraps the answer to a single query.
    return q.length === 1 ? [results as T[]] : (results as T[][]);
  } catch (err) {
    const message = (err as Error).message;
    const unreachable = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|timeout|No host available/i.test(message);
    throw new GatewayError(unreachable ? 'GW_ERR_INFLUX_UNREACHABLE' : 'GW_ERR_REPLAY', `${what}: ${message}`, { cause: err });
  }
}

export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  if (!(o.toMs > o.fromMs)) throw new GatewayError('GW_ERR_REPLAY', `the range is empty: from ${new Date(o.fromMs).toISOString()} must be before to ${new Date(o.toMs).toISOString()}`);
  const startMs = o.fromMs - (o.warmupMs ?? 0);
  const chunkMs = o.chunkMs ?? 15 * 60_000;
  const influx = influxClient(o.influxUrl, o.database);
  const where = [o.site !== undefined ? `"site" = ${escape.stringLit(o.site)}` : '', o.zone !== undefined ? `"zone" = ${escape.stringLit(o.zone)}` : ''].filter(Boolean);
  const filter = (from: number, to: number) => [`time >= ${from}ms`, `time < ${to}ms`, ...where].join(' AND ');
  const sandbox = await RulesSandbox.create({ rulesDir: o.rulesDir, ruleFiles: o.ruleFiles, startMs, log: o.log, keepReadings: false });
  try {
    const problems = sandbox.ruleProblems;
    if (problems.length > 0) throw new GatewayError('GW_ERR_RULE_FILE', problems.join('; '));
    // Armed zones as they stood when the replay starts, then their changes as they come.
    const [armedBefore = []] = await query<{ last: boolean; site: string; zone: string }>(influx, [`SELECT last("armed"), "site", "zone" FROM "zone_state" WHERE time < ${startMs}ms GROUP BY "site", "zone"`], 'reading zone_state');
    for (const row of armedBefore) await sandbox.service.state.setArmed(row.site, row.zone, row.last);
    const firings: ReplayFiring[] = [];
    const byRule: Record<string, number> = {};
    let readings = 0;
    const collect = (): void => {
      for (const out of sandbox.takeOutputs()) {
        const f = firing(out);
        if (!f || f.timeMs < o.fromMs) continue;
        firings.push(f);
        byRule[f.rule] = (byRule[f.rule] ?? 0) + 1;
        o.onFiring?.(f);
      }
    };
    for (let from = startMs; from < o.toMs; from += chunkMs) {
      const to = Math.min(from + chunkMs, o.toMs);
      const results = await query<Row & { armed?: boolean }>(
        influx,
        [...KIND_NAMES.map((k) => `SELECT "value", "seq", "event_id", "site", "zone", "device" FROM "${k}" WHERE ${filter(from, to)}`), `SELECT "armed", "site", "zone" FROM "zone_state" WHERE ${filter(from, to)}`],
        `reading ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`,
      );
      type Item = { t: number; order: number; reading?: ReadingEvent; armed?: { site: string; zone: string; armed: boolean } };
      const items: Item[] = [];
      KIND_NAMES.forEach((kind, i) => {
        for (const row of results[i] ?? []) items.push({ t: row.time.getTime(), order: i, reading: toReading(kind, row) });
      });
      for (const row of results[KIND_NAMES.length] ?? []) items.push({ t: row.time.getTime(), order: -1, armed: { site: row.site, zone: row.zone, armed: row.armed === true } });
      items.sort((a, b) => a.t - b.t || a.order - b.order);
      for (const item of items) {
        await sandbox.advanceTo(item.t);
        if (item.armed) await sandbox.service.state.setArmed(item.armed.site, item.armed.zone, item.armed.armed);
        else if (item.reading) {
          await sandbox.feed(item.reading);
          if (item.t >= o.fromMs) readings++;
        }
        collect();
      }
      await sandbox.advanceTo(to);
      collect();
      o.onProgress?.({ atMs: to, fromMs: o.fromMs, toMs: o.toMs, readings, firings: firings.length });
    }
    return { fromMs: o.fromMs, toMs: o.toMs, readings, firings, byRule };
  } finally {
    await sandbox.stop();
  }
}
