import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeadLetterEvent, ReadingEvent, ZoneArmedEvent } from '../../../gateway/core/events.js';
import { SeriesMemory } from '../../../gateway/core/series-memory.js';
import { EventStore } from '../../../gateway/storage/event-store.js';
import { Journal } from '../../../gateway/storage/journal.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function openStore(o: { maxBytes?: number; startMs?: number; sharedSeries?: boolean } = {}): Promise<{ store: EventStore; journal: Journal; lines: () => Promise<string[]> }> {
  const maxBytes = o.maxBytes ?? 1 << 20;
  const dir = await mkdtemp(join(tmpdir(), 'gw-store-'));
  dirs.push(dir);
  const journal = new Journal({ dir, maxBytes, log: pino({ level: 'silent' }) });
  await journal.open();
  const lines = async (): Promise<string[]> => {
    await journal.committed();
    const batch = await journal.take(1000);
    return batch ? Buffer.concat(batch.bodies).toString().split('\n').filter(Boolean) : [];
  };
  return { store: new EventStore(journal, { startMs: o.startMs ?? 0, sharedSeries: o.sharedSeries ?? false }), journal, lines };
}

const armed = (id: string, armedNow: boolean, timeMs: number): ZoneArmedEvent => ({ id, site: 'hq', zone: 'f1', armed: armedNow, time: new Date(timeMs).toISOString(), timeMs });
const timeOf = (line: string): string => line.slice(line.lastIndexOf(' ') + 1);
const deadLetter = (id: string, timeMs: number): DeadLetterEvent => ({ id, topic: 'sensors/hq/f1/t1/temperature', payload: 'not json', reason: 'invalid_json', detail: 'Unexpected token', receivedAt: new Date(timeMs).toISOString(), timeMs, clientId: id });

describe('EventStore (the store port on the spool)', () => {
  it('gives two events of one series in the same millisecond two points, whoever made them (ingest or the rules)', async () => {
    const { store, journal, lines } = await openStore();
    // One from `zones/hq/f1/armed` over MQTT, one from setArmed() in code, same millisecond.
    expect(store.keep('zoneArmed', armed('a', true, 1_000))).toBe(true);
    expect(store.keep('zoneArmed', armed('b', false, 1_000))).toBe(true);
    const [first, second] = await lines();
    expect(first).toContain('event_id="a"');
    expect(second).toContain('event_id="b"');
    expect(timeOf(first!)).not.toBe(timeOf(second!));
    await journal.close();
  });

  it('on cluster nodes (series shared between processes), two nodes\' dead letters of one reason at one millisecond are two points, each at that millisecond', async () => {
    // Each node's memory knows only its own events: the first of a millisecond on each would take offset 0 alike.
    const a = await openStore({ startMs: 1_000, sharedSeries: true });
    const b = await openStore({ startMs: 1_000, sharedSeries: true });
    a.store.keep('deadletter', deadLetter('from-a', 5_000));
    b.store.keep('deadletter', deadLetter('from-b', 5_000));
    const [onA] = (await a.lines()).map(timeOf);
    const [onB] = (await b.lines()).map(timeOf);
    expect(onA).not.toBe(onB);
    for (const t of [onA!, onB!]) expect(BigInt(t) / 1_000_000n).toBe(5_000n);
    await a.journal.close();
    await b.journal.close();
  });

  it('on a gateway of its own, its first event at a millisecond keeps that millisecond exactly', async () => {
    const { store, journal, lines } = await openStore({ startMs: 1_000 });
    store.keep('deadletter', deadLetter('only', 5_000));
    expect((await lines()).map(timeOf)).toEqual(['5000000000']);
    await journal.close();
  });

  it('stores a reading at its own time, as the contract says', async () => {
    const { store, journal, lines } = await openStore();
    const reading = { id: 'r1', kind: 'temperature', site: 'hq', zone: 'f1', device: 't1', numeric: 21.5, seq: 3, timeMs: 1_795_428_000_000 } as ReadingEvent;
    store.keep('reading', reading);
    expect(await lines()).toEqual(['temperature,device=t1,site=hq,zone=f1 value=21.5,seq=3i,event_id="r1" 1795428000000000000']);
    await journal.close();
  });

  it('keeps two different readings of one series at one ms apart: the first at exactly its ms, the next a sub-ms offset later; the same event again gets its same point', async () => {
    const { store, journal, lines } = await openStore({ startMs: 1_000 });
    const r = (id: string, numeric: number): ReadingEvent => ({ id, kind: 'temperature', site: 'hq', zone: 'f1', device: 't1', numeric, seq: undefined, timeMs: 5_000, receivedAtMs: 5_100 }) as ReadingEvent;
    store.keep('reading', r('a', 20));
    store.keep('reading', r('b', 35));
    store.keep('reading', r('b', 35));
    const [a, b, again] = (await lines()).map(timeOf);
    expect(a).toBe('5000000000');
    expect(b).toMatch(/^5000\d{6}$/);
    expect(b).not.toBe(a);
    expect(again).toBe(b);
    await journal.close();
  });

  it('never gives offset 0 to an event dated before the start that its memory does not know (a point stored before the restart may hold it), nor to one dated ahead of the clock', async () => {
    const { store, journal, lines } = await openStore({ startMs: 10_000 });
    const r = (id: string, timeMs: number, receivedAtMs: number): ReadingEvent => ({ id, kind: 'temperature', site: 'hq', zone: 'f1', device: 't1', numeric: 1, seq: undefined, timeMs, receivedAtMs }) as ReadingEvent;
    store.keep('reading', r('old', 5_000, 20_000));
    store.keep('reading', r('old', 5_000, 20_000));
    store.keep('reading', r('ahead', 30_000, 20_000));
    store.keep('reading', r('now', 20_000, 20_000));
    const [old, oldAgain, ahead, now] = (await lines()).map(timeOf);
    expect(old).toMatch(/^5000\d{6}$/);
    expect(old).not.toBe('5000000000');
    expect(oldAgain).toBe(old);
    expect(ahead).not.toBe('30000000000');
    expect(now).toBe('20000000000');
    await journal.close();
  });

  it('remembers the points the spool recovers: an event after the restart takes none of them, and the same event sent again gets its point', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-store-'));
    dirs.push(dir);
    const log = pino({ level: 'silent' });
    const r = (id: string, numeric: number, timeMs: number): ReadingEvent => ({ id, kind: 'temperature', site: 'hq', zone: 'f1', device: 't1', numeric, seq: undefined, timeMs, receivedAtMs: timeMs }) as ReadingEvent;
    const before = new Journal({ dir, maxBytes: 1 << 20, log });
    await before.open();
    const first = new EventStore(before, { startMs: 1_000 });
    first.keep('reading', r('a', 20, 5_000));
    first.keep('reading', r('b', 35, 5_000));
    await before.committed();
    // A crash: nothing confirmed; the next run recovers both.
    const after = new Journal({ dir, maxBytes: 1 << 20, log });
    const second = new EventStore(after, { startMs: 9_000 });
    await after.open((body, precision) => second.recall(body, precision === 'ns'));
    second.keep('reading', r('b', 35, 5_000)); // sent again: its acknowledgement was lost
    second.keep('reading', r('c', 50, 5_000)); // another event at the same ms
    await after.committed();
    const times: string[] = [];
    for (let b = await after.take(1000); b; b = await after.take(1000)) {
      times.push(...Buffer.concat(b.bodies).toString().split('\n').filter(Boolean).map(timeOf));
      after.confirm(b);
    }
    const [a, b, bAgain, c] = times;
    expect(a).toBe('5000000000');
    expect(bAgain).toBe(b);
    expect(new Set([a, b, c]).size).toBe(3);
    await after.close();
    await before.close().catch(() => undefined);
  });

  it('gives a resend after a crash its earlier point even when the spool recovered a full memory of its series (ingest admits it before the store recalls)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-store-'));
    dirs.push(dir);
    const log = pino({ level: 'silent' });
    const r = (id: string, timeMs: number, memory?: SeriesMemory): ReadingEvent => ({ id, kind: 'temperature', site: 'hq', zone: 'f1', device: 't1', numeric: 20, seq: undefined, timeMs, receivedAtMs: timeMs, memory }) as ReadingEvent;
    const before = new Journal({ dir, maxBytes: 1 << 20, log });
    await before.open();
    const first = new EventStore(before, { startMs: 1_000 });
    // More points of the series than a memory holds; the last one's acknowledgement is lost in the crash.
    for (let i = 0; i < 100; i++) first.keep('reading', r(`r${i}`, 5_000 + i));
    first.keep('reading', r('resent', 6_000));
    await before.committed();
    const [original] = (await before.take(1000))!.bodies.map((b) => b.toString().trim().split('\n').at(-1)!).map(timeOf);
    const after = new Journal({ dir, maxBytes: 1 << 20, log });
    const second = new EventStore(after, { startMs: 9_000 });
    await after.open((body, precision) => second.recall(body, precision === 'ns'));
    // As ingest does it: the series' memory (a new one, fenced at the start) admits the resend first.
    const memory = new SeriesMemory(9_000);
    expect(memory.admit('resent', 20, 6_000)).toBe('new');
    second.keep('reading', r('resent', 6_000, memory));
    await after.committed();
    let last = '';
    for (let b = await after.take(1000); b; b = await after.take(1000)) {
      last = Buffer.concat(b.bodies).toString().trim().split('\n').at(-1)!;
      after.confirm(b);
    }
    expect(last).toContain('event_id="resent"');
    expect(timeOf(last)).toBe(original);
    expect(original).toBe('6000000000');
    await after.close();
    await before.close().catch(() => undefined);
  });

  it('keeps every content of an id reused at one ms as its own point, after the memory forgot them and across a restart (with the spool recovered or not); a resend keeps its point', async () => {
    // Found from outside: d1 at one ts with 41, 42, 70 other readings, then 43: InfluxDB kept 41 and 43, not 42.
    const T = 1_795_960_699_798;
    const dir = await mkdtemp(join(tmpdir(), 'gw-store-'));
    dirs.push(dir);
    const log = pino({ level: 'silent' });
    const r = (id: string, numeric: number, timeMs: number, memory?: SeriesMemory): ReadingEvent => ({ id, kind: 'humidity', site: 'tt', zone: 'zf', device: 'devG', numeric, seq: undefined, timeMs, receivedAtMs: T + 500, memory }) as ReadingEvent;
    const before = new Journal({ dir, maxBytes: 1 << 20, log });
    await before.open();
    const first = new EventStore(before, { startMs: T - 1000 });
    first.keep('reading', r('d1', 41, T));
    first.keep('reading', r('d1', 42, T));
    for (let i = 0; i < 70; i++) first.keep('reading', r(`o${i}`, 50, T + 1 + i));
    first.keep('reading', r('d1', 43, T));
    first.keep('reading', r('d1', 42, T)); // a resend of 42, the memory having forgotten it
    await before.committed();
    const d1 = (lines: string[]): Map<string, string[]> => {
      const by = new Map<string, string[]>();
      for (const l of lines.filter((l) => l.includes('event_id="d1"'))) {
        const v = /value=([^,]+)/.exec(l)![1]!;
        by.set(v, [...(by.get(v) ?? []), timeOf(l)]);
      }
      return by;
    };
    const run1 = d1(Buffer.concat((await before.take(1000))!.bodies).toString().split('\n').filter(Boolean));
    expect(run1.get('41')).toEqual(['1795960699798000000']);
    expect(new Set([run1.get('41')![0], run1.get('42')![0], run1.get('43')![0]]).size).toBe(3);
    expect(run1.get('42')![1]).toBe(run1.get('42')![0]);
    // Restarts, later than T: with the spool recovering the run's points (a crash), or with nothing recovered.
    for (const recovered of [true, false]) {
      const afterDir = recovered ? dir : await mkdtemp(join(tmpdir(), 'gw-store-'));
      if (!recovered) dirs.push(afterDir);
      const after = new Journal({ dir: afterDir, maxBytes: 1 << 20, log });
      const second = new EventStore(after, { startMs: T + 60_000 });
      await after.open((body, precision) => second.recall(body, precision === 'ns'));
      // As ingest does it: the rules' rebuild remembered 41 and 42; 44 is another content again, 43
      // and 42 resends (42 kept again if the recovered points pushed it out of the memory: its same point).
      const memory = new SeriesMemory(T + 60_000);
      for (const v of [41, 42]) memory.remember('d1', v, T);
      for (const v of [44, 43, 42]) if (memory.admit('d1', v, T) !== 'duplicate') second.keep('reading', r('d1', v, T, memory));
      await after.committed();
      const all: string[] = [];
      for (let b = await after.take(1000); b; b = await after.take(1000)) {
        all.push(...Buffer.concat(b.bodies).toString().split('\n').filter(Boolean));
        after.confirm(b);
      }
      const run2 = d1(all);
      const at44 = run2.get('44')!.at(-1)!;
      expect([run1.get('41')![0], run1.get('42')![0], run1.get('43')![0]]).not.toContain(at44);
      expect(run2.get('43')!.at(-1)).toBe(run1.get('43')![0]);
      for (const again of run2.get('42') ?? []) expect(again).toBe(run1.get('42')![0]);
      await after.close();
    }
    await before.close().catch(() => undefined);
  });

  it('refuses when the spool is full, unless the event must always be kept', async () => {
    const { store, journal } = await openStore({ maxBytes: 1 });
    expect(store.keep('zoneArmed', armed('a', true, 1))).toBe(true);
    expect(store.isFull()).toBe(true);
    expect(store.keep('zoneArmed', armed('b', true, 2))).toBe(false);
    expect(store.keep('zoneArmed', armed('c', true, 3), true)).toBe(true);
    await journal.close();
  });
});
