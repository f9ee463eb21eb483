import type { KeptDeadLetter } from '../core/archive.js';
import { stringLiteral } from './influxql.js';

/** Which kept dead letters: the selection a redrive takes (reason, time, native device), every part optional. */
export interface DeadLetterFilter {
  readonly reason?: string;
  /** From (inclusive), epoch ms. */
  readonly sinceMs?: number;
  /** After (excluded), epoch ms: a redrive's cursor, past the last letter it read. */
  readonly afterMs?: number;
  /** Until (excluded), epoch ms. */
  readonly untilMs?: number;
  /** `<family>:<native id>`: the letters whose detail names it, as redrive matches them. */
  readonly device?: string;
}

/** RE2 (InfluxQL's regex) takes any punctuation escaped; `/` must be, it ends the literal. */
const regexLiteral = (text: string): string => text.replace(/[\\^$.|?*+()[\]{}/-]/g, '\\$&');

export function deadLettersWhere(f: DeadLetterFilter): string {
  const parts: string[] = [];
  if (f.reason !== undefined) parts.push(`"reason" = ${stringLiteral(f.reason)}`);
  if (f.sinceMs !== undefined) parts.push(`time >= ${Math.floor(f.sinceMs)}ms`);
  if (f.afterMs !== undefined) parts.push(`time > ${Math.floor(f.afterMs)}ms`);
  if (f.untilMs !== undefined) parts.push(`time < ${Math.ceil(f.untilMs)}ms`);
  // Redrive's own test (ingest/redrive.ts): the detail starts with the device and a space or a colon.
  if (f.device !== undefined) parts.push(`"detail" =~ /^${regexLiteral(f.device)}[ :]/`);
  return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
}

/**
 * The one query of kept dead letters (measurement `deadletters`, DESIGN.md; `detail` and
 * `event_id` are the README's additions): `limit` from `offset` on, newest first unless not.
 */
export function deadLettersQuery(f: DeadLetterFilter, page: { readonly limit: number; readonly offset?: number; readonly newestFirst?: boolean }): string {
  const order = page.newestFirst === false ? 'ASC' : 'DESC';
  const offset = page.offset ? ` OFFSET ${Math.floor(page.offset)}` : '';
  return `SELECT "topic", "payload", "client_id", "detail", "event_id", "reason" FROM "deadletters"${deadLettersWhere(f)} ORDER BY time ${order} LIMIT ${Math.max(1, Math.floor(page.limit))}${offset}`;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** One row of that query (its columns, whatever client read it) and its time in epoch ms. */
export function keptDeadLetter(r: Readonly<Record<string, unknown>>, timeMs: number): KeptDeadLetter {
  return {
    id: str(r['event_id']),
    topic: str(r['topic']),
    payload: str(r['payload']),
    reason: str(r['reason']),
    detail: str(r['detail']),
    clientId: str(r['client_id']) || null,
    timeMs,
  };
}
