import { setTimeout as sleep } from 'node:timers/promises';
/** What a simulated fleet had acknowledged, checked against what InfluxDB holds. */
import { query } from './influx.js';

const READING_MEASUREMENTS = '/^(temperature|humidity|co2|illuminance|occupancy|motion|contact|smoke|power|battery|keypad)$/';

/** Every reading event id stored, with how many points carry it. */
export async function storedEventIds(url: string, db: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const s of await query(url, db, `SELECT event_id FROM ${READING_MEASUREMENTS}`)) {
    for (const row of s.values) {
      const id = String(row[1]);
      ids.set(id, (ids.get(id) ?? 0) + 1);
    }
  }
  return ids;
}

/** Acknowledged ids missing from the store, and ids stored more than once. */
export async function checkExactlyOnce(url: string, db: string, acknowledged: Iterable<string>): Promise<{ stored: number; missing: string[]; duplicated: string[] }> {
  const ids = await storedEventIds(url, db);
  const missing = [...acknowledged].filter((id) => !ids.has(id));
  const duplicated = [...ids].filter(([, n]) => n > 1).map(([id]) => id);
  let stored = 0;
  for (const n of ids.values()) stored += n;
  return { stored, missing, duplicated };
}

/**
 * Waits until every acknowledged id is in InfluxDB (or `timeoutMs` passes), then says what is
 * missing or stored twice. Counting points is not enough: the count also holds readings that are
 * not in `acknowledged` (a test's own probes and timers, readings stored whose acknowledgement a
 * kill lost), so it reaches the number acknowledged before the last batch is written.
 */
export async function allAcknowledgedStored(influxUrl: string, db: string, acknowledged: ReadonlySet<string>, timeoutMs = 90_000): Promise<{ stored: number; missing: string[]; duplicated: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const check = await checkExactlyOnce(influxUrl, db, acknowledged);
    if (check.missing.length === 0 || Date.now() > deadline) return check;
    await sleep(500);
  }
}
