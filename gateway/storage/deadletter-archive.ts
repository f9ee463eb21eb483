import { escape } from 'influx';
import type { DeadLetterArchive, KeptDeadLetter } from '../core/archive.js';
import { GatewayError } from '../core/errors.js';
import { influxClient } from './influx1.js';

type Row = { time: { getTime(): number }; topic?: string | null; payload?: string | null; client_id?: string | null; detail?: string | null; event_id?: string | null };

/** The dead letters kept in InfluxDB 1.x (measurement `deadletters`, DESIGN.md), read back by reason and time. */
export class InfluxDeadLetterArchive implements DeadLetterArchive {
  private readonly influx;

  constructor(url: string, database: string) {
    this.influx = influxClient(url, database);
  }

  async read(reason: string, afterMs: number, untilMs: number, limit: number): Promise<KeptDeadLetter[]> {
    const q = `SELECT "topic", "payload", "client_id", "detail", "event_id" FROM "deadletters" WHERE "reason" = ${escape.stringLit(reason)} AND time > ${Math.floor(afterMs)}ms AND time < ${Math.ceil(untilMs)}ms ORDER BY time ASC LIMIT ${Math.max(1, Math.floor(limit))}`;
    let rows: Row[];
    try {
      rows = await this.influx.query<Row>(q, { precision: 'ms' });
    } catch (err) {
      throw new GatewayError('GW_ERR_REDRIVE', `reading dead letters (${reason}) from InfluxDB: ${(err as Error).message}`, { cause: err });
    }
    return rows.map((r) => ({
      id: r.event_id ?? '',
      topic: r.topic ?? '',
      payload: r.payload ?? '',
      reason,
      detail: r.detail ?? '',
      clientId: r.client_id ? r.client_id : null,
      timeMs: r.time.getTime(),
    }));
  }
}
