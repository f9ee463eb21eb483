/** InfluxDB helpers for the benchmark: count what arrived, post line protocol directly. */
import type { Reading } from '../../simulators/devices.js';

const READINGS = '/^(temperature|humidity|co2|illuminance|occupancy|motion|contact|smoke|power|battery|keypad)$/';

export async function countReadings(url: string, db: string): Promise<number> {
  const res = await fetch(`${url}/query?${new URLSearchParams({ db, q: `SELECT count("value") FROM ${READINGS}` }).toString()}`);
  const body = (await res.json()) as { results?: { series?: { values: unknown[][] }[] }[] };
  return (body.results?.[0]?.series ?? []).reduce((sum, s) => sum + Number(s.values[0]?.[1] ?? 0), 0);
}

/** Polls until `expected` readings are counted (or the deadline); returns the last count. */
export async function waitForCount(url: string, db: string, expected: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  while (Date.now() < deadline) {
    n = await countReadings(url, db);
    if (n >= expected) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
  return n;
}

export async function createDb(url: string, db: string): Promise<void> {
  await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
}

/** The same readings as line protocol, as the gateway would store them. */
export function lines(readings: readonly Reading[]): string[] {
  return readings.map((r) => {
    const p = JSON.parse(r.payload) as { value: number | boolean | string; ts: number; seq: number; id: string };
    const v = typeof p.value === 'boolean' ? (p.value ? 1 : 0) : p.value === 'ok' ? 1 : p.value === 'fail' ? 0 : p.value;
    return `${r.kind},device=${r.device.id},site=${r.device.site},zone=${r.device.zone} value=${v},seq=${p.seq}i,event_id="${p.id}" ${p.ts}\n`;
  });
}

/** Posts lines in batches, one request at a time; resolves when InfluxDB has answered them all. */
export async function postLines(url: string, db: string, all: readonly string[], batch: number): Promise<void> {
  for (let i = 0; i < all.length; i += batch) {
    const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: all.slice(i, i + batch).join('') });
    if (res.status !== 204) throw new Error(`InfluxDB answered ${res.status}: ${await res.text()}`);
  }
}
