import { escape } from 'influx';
import type { KeptDeadLetter } from '../core/archive.js';
import { InfluxQuery, rowsOf } from './influx-query.js';

/** Which kept dead letters: the selection a redrive takes (reason, time, native device), every part optional. */
export interface DeadLetterFilter {
  readonly reason?: string;
  /** From (inclusive), epoch ms. */
  readonly sinceMs?: number;
  /** Until (excluded), epoch ms. */
  readonly untilMs?: number;
  /** `<family>:<native id>`: the letters whose detail names it, as redrive matches them. */
  readonly device?: string;
}

/** RE2 (InfluxQL's regex) takes any punctuation escaped; `/` must be, it ends the literal. */
const regexLiteral = (text: string): string => text.replace(/[\\^$.|?*+()[\]{}/-]/g, '\\$&');

function where(f: DeadLetterFilter): string {
  const parts: string[] = [];
  if (f.reason !== undefined) parts.push(`"reason" = ${escape.stringLit(f.reason)}`);
  if (f.sinceMs !== undefined) parts.push(`time >= ${Math.floor(f.sinceMs)}ms`);
  if (f.untilMs !== undefined) parts.push(`time < ${Math.ceil(f.untilMs)}ms`);
  // Redrive's own test (ingest/redrive.ts): the detail starts with the device and a space or a colon.
  if (f.device !== undefined) parts.push(`"detail" =~ /^${regexLiteral(f.device)}[ :]/`);
  return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * Kept dead letters read from InfluxDB (measurement `deadletters`, DESIGN.md; `detail` and
 * `event_id` are the README's additions) for people and scripts: `npm run deadletters -- list`
 * and `redrive --dry-run`. Errors are InfluxQuery's (GW_ERR_INFLUX_UNREACHABLE when none answers).
 */
export class DeadLetterList {
  readonly description: string;
  private readonly q: InfluxQuery;

  constructor(url: string, database: string) {
    this.q = new InfluxQuery(url, database);
    this.description = this.q.description;
  }

  /** Up to `limit` letters from `offset` on, newest first (or oldest first, the order a redrive takes them). */
  async read(f: DeadLetterFilter, o: { limit: number; offset?: number; newestFirst?: boolean }): Promise<KeptDeadLetter[]> {
    const order = o.newestFirst === false ? 'ASC' : 'DESC';
    const offset = o.offset ? ` OFFSET ${Math.floor(o.offset)}` : '';
    const [series = []] = await this.q.run([
      `SELECT "topic", "payload", "client_id", "detail", "event_id", "reason" FROM "deadletters"${where(f)} ORDER BY time ${order} LIMIT ${Math.max(1, Math.floor(o.limit))}${offset}`,
    ]);
    return rowsOf(series).map((r) => ({
      id: str(r['event_id']),
      topic: str(r['topic']),
      payload: str(r['payload']),
      reason: str(r['reason']),
      detail: str(r['detail']),
      clientId: str(r['client_id']) || null,
      timeMs: Number(r['time']),
    }));
  }

  /** How many letters the filter selects, by reason. */
  async countByReason(f: DeadLetterFilter): Promise<Record<string, number>> {
    const [series = []] = await this.q.run([`SELECT count("topic") FROM "deadletters"${where(f)} GROUP BY "reason"`]);
    const counts: Record<string, number> = {};
    for (const r of rowsOf(series)) counts[str(r['reason'])] = Number(r['count']);
    return counts;
  }
}
