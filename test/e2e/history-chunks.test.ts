/**
 * InfluxHistory.read against a real InfluxDB, with many readings in its range: the chunks it
 * yields are planned from the readings' counts and hold at most `chunkRows` readings each, in
 * time order across chunks. It read 15-minute chunks whole, with no row limit: at 2,000
 * readings/s the rules rebuild at start held over a gigabyte and ran the gateway out of heap.
 */
import { describe, expect, it, inject } from 'vitest';
import { byTime, HISTORY_ORDER, type HistoryItem } from '../../gateway/core/history.js';
import { InfluxHistory } from '../../gateway/storage/history.js';
import { pointTime } from '../../gateway/storage/line.js';
import { commandPoint, zoneArmedPoint } from '../../gateway/storage/points.js';
import { uniqueDb } from '../helpers/influx.js';

const T0 = Date.parse('2026-11-28T10:00:00Z');
const MIN = 60_000;
const BOUND = 5_000;

async function write(url: string, db: string, lines: string[]): Promise<void> {
  expect((await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE "${db}"`)}`, { method: 'POST' })).ok).toBe(true);
  for (let i = 0; i < lines.length; i += 50_000) {
    const res = await fetch(`${url}/write?db=${db}&precision=ns`, { method: 'POST', body: lines.slice(i, i + 50_000).join('') });
    expect(res.status).toBe(204);
  }
}

describe('InfluxHistory.read with many readings (real InfluxDB)', () => {
  it('yields every reading, in time order, in chunks of at most chunkRows readings planned across measurements', async () => {
    const url = inject('influxUrl');
    const db = uniqueDb();
    const lines: string[] = [];
    const ids = new Set<string>();
    // `ns` is the offset within the millisecond, so points of one series and millisecond stay distinct.
    const reading = (kind: string, device: string, ms: number, ns: number): void => {
      const id = `${kind}-${device}-${ms}-${ns}`;
      ids.add(id);
      lines.push(`${kind},device=${device},site=hq,zone=f1 value=1,seq=1i,event_id="${id}" ${pointTime(ms, ns)}\n`);
    };
    // Sparse: one temperature a second for 30 minutes.
    for (let s = 0; s < 30 * 60; s++) reading('temperature', 't1', T0 + s * 1000, 0);
    // A dense minute: 20,000 humidity readings, every 3 ms (split into seconds).
    for (let i = 0; i < 20_000; i++) reading('humidity', 'h1', T0 + 10 * MIN + i * 3, 0);
    // A second over the bound only counted across measurements: 3,000 + 3,000 (split into milliseconds).
    for (let i = 0; i < 3_000; i++) reading('humidity', 'h2', T0 + 15 * MIN + Math.floor(i / 3), i % 3);
    for (let i = 0; i < 3_000; i++) reading('co2', 'c1', T0 + 15 * MIN + Math.floor(i / 3), i % 3);
    // One millisecond over the bound: 12,000 motion and 3,000 temperature readings (paged), with a
    // zone armed (before the readings of its millisecond) and a command (after them) at that time.
    const dense = T0 + 25 * MIN + 500;
    for (let i = 0; i < 12_000; i++) reading('motion', 'm1', dense, i + 1);
    for (let i = 0; i < 3_000; i++) reading('temperature', 't2', dense, i + 1);
    lines.push(zoneArmedPoint({ id: 'arm-1', site: 'hq', zone: 'f1', armed: true, time: new Date(dense).toISOString(), timeMs: dense }, () => pointTime(dense, 0)));
    lines.push(
      commandPoint(
        {
          kind: 'command', id: 'cmd-1', timeMs: dense, topic: 'commands/hq/f1/hvac', site: 'hq', zone: 'f1', actuator: 'hvac', rule: 'r',
          cloudEvent: { specversion: '1.0', id: 'cmd-1', type: 'com.iot-gateway.command.hvac', source: 'rules/r', time: new Date(dense).toISOString(), datacontenttype: 'application/json', correlationid: 'corr-1', data: { state: 'on' } },
        },
        () => pointTime(dense, 0),
      ),
    );
    await write(url, db, lines);

    const history = new InfluxHistory({ url, database: db, chunkRows: BOUND });
    const chunks: HistoryItem[][] = [];
    for await (const chunk of history.read({ fromMs: T0, toMs: T0 + 31 * MIN, types: ['reading', 'zoneArmed', 'command'] })) chunks.push(chunk);

    const readingsPer = chunks.map((c) => c.filter((i) => i.type === 'reading').length);
    expect(Math.max(...readingsPer)).toBeLessThanOrEqual(BOUND);
    const all = chunks.flat();
    const readings = all.filter((i) => i.type === 'reading');
    expect(readings.length).toBe(ids.size);
    expect(new Set(readings.map((i) => i.event.id))).toEqual(ids);
    // Time order across chunks, and the same-millisecond order (armed zone, readings, command).
    for (let i = 1; i < all.length; i++) expect(byTime(all[i - 1]!, all[i]!)).toBeLessThanOrEqual(0);
    const at = all.filter((i) => i.event.timeMs === dense).map((i) => HISTORY_ORDER[i.type]);
    expect(at[0]).toBe(HISTORY_ORDER.zoneArmed);
    expect(at.at(-1)).toBe(HISTORY_ORDER.command);
    expect(at.length).toBe(15_002);
    // Planned, not split blindly: chunks are filled, not one per second or millisecond.
    const full = readingsPer.filter((n) => n > 0).length;
    expect(full).toBeLessThanOrEqual(3 * Math.ceil(ids.size / BOUND));
  });
});
