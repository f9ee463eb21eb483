import type { KeptDeadLetter } from '../core/archive.js';
import { deadLettersQuery, deadLettersWhere, keptDeadLetter, type DeadLetterFilter } from './deadletter-query.js';
import { InfluxQuery, rowsOf } from './influx-query.js';

export type { DeadLetterFilter } from './deadletter-query.js';

/**
 * Kept dead letters read from InfluxDB for people and scripts: `npm run deadletters -- list` and
 * `redrive --dry-run`. Errors are InfluxQuery's (GW_ERR_INFLUX_UNREACHABLE when none answers).
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
    const [series = []] = await this.q.run([deadLettersQuery(f, o)]);
    return rowsOf(series).map((r) => keptDeadLetter(r, Number(r['time'])));
  }

  /** How many letters the filter selects, by reason. */
  async countByReason(f: DeadLetterFilter): Promise<Record<string, number>> {
    const [series = []] = await this.q.run([`SELECT count("topic") FROM "deadletters"${deadLettersWhere(f)} GROUP BY "reason"`]);
    const counts: Record<string, number> = {};
    for (const r of rowsOf(series)) counts[typeof r['reason'] === 'string' ? r['reason'] : ''] = Number(r['count']);
    return counts;
  }
}
