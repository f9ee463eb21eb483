/** Reading back from the real InfluxDB the tests run. */
import { randomBytes } from 'node:crypto';

export interface Series {
  readonly name: string;
  readonly columns: string[];
  readonly values: unknown[][];
  readonly tags?: Record<string, string>;
}

/** A fresh database name, so tests sharing one InfluxDB never see each other's points. */
export function uniqueDb(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function query(url: string, db: string, q: string): Promise<Series[]> {
  const params = new URLSearchParams({ db, q, epoch: 'ms' });
  const res = await fetch(`${url}/query?${params.toString()}`);
  const body = (await res.json()) as { results?: { series?: Series[]; error?: string }[]; error?: string };
  if (body.error) throw new Error(`InfluxDB: ${body.error}`);
  const first = body.results?.[0];
  if (first?.error) throw new Error(`InfluxDB: ${first.error}`);
  return first?.series ?? [];
}

/** Rows of a query as objects keyed by column. */
export async function rows(url: string, db: string, q: string): Promise<Record<string, unknown>[]> {
  const series = await query(url, db, q);
  return series.flatMap((s) => s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))));
}

/** Number of points in a measurement (counting a field every point has). */
export async function count(url: string, db: string, measurement: string, field = 'event_id'): Promise<number> {
  const series = await query(url, db, `SELECT count("${field}") FROM "${measurement}"`);
  return Number(series[0]?.values[0]?.[1] ?? 0);
}

/** Readings of every kind stored in a database. */
export async function countReadings(url: string, db: string): Promise<number> {
  const series = await query(url, db, 'SELECT count("value") FROM /^(temperature|humidity|co2|illuminance|occupancy|motion|contact|smoke|power|battery|keypad)$/');
  return series.reduce((sum, s) => sum + Number(s.values[0]?.[1] ?? 0), 0);
}
