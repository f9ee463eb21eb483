/**
 * Any id is looked up as itself in InfluxDB (InfluxHistory.related, what the trace reads) against
 * a real InfluxDB. The `influx` package's escape.stringLit escapes `'` only: an id ending in a
 * backslash left `'…\'`, whose last quote was escaped (a parse error: the trace answered 502), and
 * `\'` in an id closed the literal early, so what followed was read as InfluxQL.
 */
import { describe, expect, it, inject } from 'vitest';
import type { ReadingEvent } from '../../gateway/core/events.js';
import { traceOf } from '../../gateway/rules/trace.js';
import { InfluxHistory } from '../../gateway/storage/history.js';
import { pointTime } from '../../gateway/storage/line.js';
import { readingPoint } from '../../gateway/storage/points.js';
import { uniqueDb } from '../helpers/influx.js';

const NOW = Date.parse('2026-11-28T12:00:00Z');

function reading(id: string, i: number): ReadingEvent {
  const timeMs = NOW - 60_000 + i * 1000;
  const time = new Date(timeMs).toISOString();
  return { id, type: 'sensor.temperature', source: 'hq/f1/t-1', time, receivedAt: time, seq: i, site: 'hq', zone: 'f1', device: 't-1', kind: 'temperature', value: 20 + i, numeric: 20 + i, timeMs, clientId: 't-1' };
}

const IDS = ['trail\\', "it's", "both\\'", 'line\nbreak', '\\\\double', 'tab\tand "quotes"', "x\\' OR \"event_id\" =~ /./ OR \"event_id\" = '"];

describe('InfluxHistory.related with ids InfluxQL must quote (real InfluxDB)', () => {
  it('finds each reading by its id, whatever backslashes, quotes and newlines it holds, and nothing else', async () => {
    const url = inject('influxUrl');
    const db = uniqueDb();
    expect((await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE "${db}"`)}`, { method: 'POST' })).ok).toBe(true);
    const lines = IDS.map((id, i) => readingPoint(reading(id, i), pointTime(reading(id, i).timeMs, 0))).join('');
    expect((await fetch(`${url}/write?db=${db}&precision=ns`, { method: 'POST', body: lines })).status).toBe(204);
    const history = new InfluxHistory({ url, database: db });
    for (const [i, id] of IDS.entries()) {
      const found = await history.related([id]);
      expect(found.map((item) => item.event.id), JSON.stringify(id)).toEqual([id]);
      expect(found[0]).toMatchObject({ type: 'reading', event: { value: 20 + i } });
    }
    expect(await history.related(['trail'])).toEqual([]);
    // The trace (npm run trace without a gateway, GET /api/trace/<id> for an older chain) reads the same way.
    const trace = await traceOf('trail\\', undefined, history);
    expect(trace).toMatchObject({ found: true, from: 'influxdb', steps: [{ step: 'reading', id: 'trail\\' }] });
  });
});
