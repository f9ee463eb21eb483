import type { DeadLetterArchive, KeptDeadLetter } from '../core/archive.js';
import { GatewayError } from '../core/errors.js';
import { deadLettersQuery, keptDeadLetter } from './deadletter-query.js';
import { influxClient } from './influx1.js';

type Row = Record<string, unknown> & { time: { getTime(): number } };

/** The dead letters kept in InfluxDB 1.x (measurement `deadletters`, DESIGN.md), read back by reason and time. */
export class InfluxDeadLetterArchive implements DeadLetterArchive {
  private readonly influx;

  constructor(url: string, database: string) {
    this.influx = influxClient(url, database);
  }

  async read(reason: string, afterMs: number, untilMs: number, limit: number): Promise<KeptDeadLetter[]> {
    const q = deadLettersQuery({ reason, afterMs, untilMs }, { limit, newestFirst: false });
    let rows: Row[];
    try {
      rows = await this.influx.query<Row>(q, { precision: 'ms' });
    } catch (err) {
      throw new GatewayError('GW_ERR_REDRIVE', `reading dead letters (${reason}) from InfluxDB: ${(err as Error).message}`, { cause: err });
    }
    return rows.map((r) => ({ ...keptDeadLetter(r, r.time.getTime()), reason }));
  }
}
