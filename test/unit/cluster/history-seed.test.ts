/**
 * A partition whose shared state Redis lost (gw:data-lost set, its hash empty) is rebuilt from the
 * history (a real redis-server; the history port in memory, as in rules/rebuild.test.ts): its
 * own sites only, the readings its stream holds left to be ruled live after, and the rebuilt state
 * committed as the shared state. Without the mark, an empty partition starts empty, as before.
 */
import { createConnection, createServer } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { partitionHistory } from '../../../gateway/cluster/history-seed.js';
import { KEYS } from '../../../gateway/cluster/redis-keys.js';
import type { CommandEvent, ReadingEvent } from '../../../gateway/core/events.js';
import { byTime, type History, type HistoryItem } from '../../../gateway/core/history.js';
import { partitionOf } from '../../../gateway/core/partition.js';
import type { RuleOutput } from '../../../gateway/rules/outputs.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { decodeSnapshot } from '../../../gateway/rules/shared-state.js';
import { InfluxHistory } from '../../../gateway/storage/history.js';
import { pointTime } from '../../../gateway/storage/line.js';
import { commandPoint, deviceStatusPoint, readingPoint } from '../../../gateway/storage/points.js';
import { uniqueDb } from '../../helpers/influx.js';
import { P, partitionOwners } from '../../helpers/partition-owners.js';
import { restartablePort } from '../../helpers/restartable-port.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
});

const pack = parsePack(
  't.json',
  JSON.stringify({
    rules: [
      { name: 'cool', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 28 }] }, event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'cool' } } } },
      { name: 'heat', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 15 }] }, event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'heat' } } } },
    ],
  }),
);
const rules = { rules: pack.rules, actuators: pack.actuators };
const commands = { confirmMs: 60_000, retries: 2, holdMs: 60_000 };
const PARTITIONS = 2;
const SITES = ['hq', 'lab', 'b1', 'b2', 'b3', 'b4', 'b5'];
/** A site of partition P, and one of the other. */
const MINE = SITES.find((s) => partitionOf(s, PARTITIONS) === P)!;
const OTHER = SITES.find((s) => partitionOf(s, PARTITIONS) !== P)!;

function reading(at: number, site: string, value: number, id: string, zone = 'f1'): HistoryItem {
  const time = new Date(at).toISOString();
  const event: ReadingEvent = { id, type: 'sensor.temperature', source: `${site}/${zone}/t-1`, time, receivedAt: time, seq: undefined, site, zone, device: 't-1', kind: 'temperature', value, numeric: value, timeMs: at, clientId: undefined };
  return { type: 'reading', event };
}
function command(at: number, site: string, rule: string, data: Record<string, unknown>, correlationid: string): HistoryItem {
  const id = `cmd-${site}-${at}`;
  const event: CommandEvent = {
    kind: 'command', id, timeMs: at, topic: `commands/${site}/f1/hvac`, site, zone: 'f1', actuator: 'hvac', rule,
    cloudEvent: { specversion: '1.0', id, type: 'hvac.set', source: `rules/${rule}`, time: new Date(at).toISOString(), datacontenttype: 'application/json', correlationid, data },
  };
  return { type: 'command', event };
}
function memoryHistory(items: HistoryItem[]): History {
  return {
    description: 'memory',
    caughtUp: () => Promise.resolve('drained' as const),
    latestBefore: () => Promise.resolve([]),
    async *read(range) {
      yield items.filter((i) => i.event.timeMs >= range.fromMs && i.event.timeMs < range.toMs).sort(byTime);
    },
    related: () => Promise.resolve([]),
  };
}
const line = (site: string, value: number, id: string, at: number, zone = 'f1') => `temperature,device=t-1,site=${site},zone=${zone} value=${value},event_id="${id}" ${pointTime(at, 0)}`;
const commandsSent = (sent: readonly RuleOutput[]) => sent.flatMap((o) => (o.type === 'outcome' && o.outcome.kind === 'command' ? [o.outcome] : []));

describe('a partition rebuilt from the history after Redis lost its data', () => {
  const now = Date.now();
  // Before the loss: a hot reading commanded cooling, on this partition's site and on the other's.
  // After it: a cold reading in another zone, stored and forwarded to the new stream, not ruled yet.
  const items = [reading(now - 60_000, MINE, 31, 'r-1'), command(now - 60_000, MINE, 'cool', { mode: 'cool' }, 'r-1'), reading(now - 50_000, OTHER, 31, 'o-1'), command(now - 50_000, OTHER, 'cool', { mode: 'cool' }, 'o-1'), reading(now - 1000, MINE, 10, 'r-2', 'f2')];

  it('partitionHistory: its own sites only, without what the stream holds', async () => {
    const h = partitionHistory(memoryHistory(items), P, PARTITIONS, () => Promise.resolve(new Set(['r-2'])));
    const read: string[] = [];
    for await (const page of h.read({ fromMs: now - 120_000, toMs: now })) read.push(...page.map((i) => i.event.id));
    expect(read).toEqual(['r-1', `cmd-${MINE}-${now - 60_000}`]);
  });

  it('knows what was commanded, commits it as the shared state, then rules the stream: no command again, the new reading not lost', async () => {
    const { conn, acquire, worker, add } = await partitionOwners({ rules, commands, log, undo, name: 'test-seed' });
    await conn.set(KEYS.dataLost, 'epoch-2');
    const cold = await add(line(MINE, 10, 'r-2', now - 1000, 'f2'));
    const sent: RuleOutput[] = [];
    const w = worker(await acquire('A'), sent, log, rules, { history: memoryHistory(items), partitions: PARTITIONS, waitMs: 0 });
    const started = await w.start();
    expect(started).toMatchObject({ fromHistory: true, cursor: '0-0' });
    expect(sent).toEqual([]);
    expect(w.runtime.dispatcher.actuatorData(MINE, 'f1', 'hvac')).toEqual({ mode: 'cool' });
    expect(w.runtime.dispatcher.actuatorData(OTHER, 'f1', 'hvac')).toBeUndefined();
    expect(decodeSnapshot(await conn.hgetall(KEYS.state(P))).actuators.get(`${MINE}/f1/hvac`)).toMatchObject({ data: { mode: 'cool' }, rule: 'cool' });

    // The stream from its start: the cold reading is ruled now (f2 heats), a hot one in f1 commands nothing again.
    await w.process([cold, await add(line(MINE, 31.5, 'r-3', now))]);
    expect(commandsSent(sent).map((c) => [c.zone, c.rule, c.cloudEvent.data])).toEqual([['f2', 'heat', { mode: 'heat' }]]);
    expect(w.runtime.dispatcher.actuatorData(MINE, 'f1', 'hvac')).toEqual({ mode: 'cool' });
  });

  it('without the mark (a cluster that kept its data, or a fresh one), an empty partition starts empty', async () => {
    const { acquire, worker } = await partitionOwners({ rules, commands, log, undo, name: 'test-seed' });
    const w = worker(await acquire('A'), [], log, rules, { history: memoryHistory(items), partitions: PARTITIONS, waitMs: 0 });
    expect((await w.start()).fromHistory).toBeUndefined();
    expect(w.runtime.dispatcher.actuatorData(MINE, 'f1', 'hvac')).toBeUndefined();
  });
});

/**
 * InfluxDB away when Redis lost its data (one reboot restarting both, influxd slower to start): the
 * real InfluxDB behind a port nothing listens on yet, then a forwarder to it.
 */
describe('a partition whose history cannot be read yet after Redis lost its data', () => {
  const now = Date.now();
  const influx = inject('influxUrl');

  async function storedHistory(): Promise<string> {
    const db = uniqueDb('seedretry');
    await fetch(`${influx}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
    const r = reading(now - 60_000, MINE, 31, 'r-1');
    const c = command(now - 60_000, MINE, 'cool', { mode: 'cool' }, 'r-1');
    if (r.type !== 'reading' || c.type !== 'command') throw new Error('unreachable');
    const body = [readingPoint(r.event, pointTime(now - 60_000, 0)), commandPoint(c.event, () => pointTime(now - 60_000, 0))].join('\n');
    const res = await fetch(`${influx}/write?db=${db}`, { method: 'POST', body });
    expect(res.status).toBe(204);
    return db;
  }
  /** InfluxDB's port, answering once `open()` is called. */
  async function lateInflux(): Promise<{ url: string; open: () => Promise<void> }> {
    const port = await restartablePort();
    const target = new URL(influx);
    const server = createServer((c) => {
      const up = createConnection(Number(target.port), target.hostname);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    undo.push(() => new Promise((r) => server.close(r)));
    return { url: `http://127.0.0.1:${port}`, open: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', r)) };
  }
  function capture() {
    const lines: { level: number; code?: string; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
    return { lines, logger, tries: () => lines.filter((l) => l.code === 'GW_ERR_HISTORY').length };
  }

  it('commits nothing while it cannot be read, tries again, and once InfluxDB answers rebuilds it: no command again', async () => {
    const db = await storedHistory();
    const late = await lateInflux();
    let up = false;
    const history = new InfluxHistory({ url: late.url, database: db, up: () => up });
    const { conn, acquire, worker, add } = await partitionOwners({ rules, commands, log, undo, name: 'test-seed-retry' });
    await conn.set(KEYS.dataLost, 'epoch-2');
    const cold = await add(line(MINE, 10, 'r-2', now - 1000, 'f2'));
    const sent: RuleOutput[] = [];
    const { logger, tries, lines } = capture();
    const w = worker(await acquire('A'), sent, logger, rules, { history, partitions: PARTITIONS, waitMs: 0, retryForMs: 600_000 });
    let done = false;
    const started = w.start().finally(() => (done = true));
    await waitFor(() => done || tries() >= 2, 'two tries of the rebuild, or its end', 30_000);
    // Not taken as the truth: nothing committed (the hash stays empty, so it is still rebuilt), nothing sent.
    expect(done).toBe(false);
    expect(await conn.exists(KEYS.state(P))).toBe(0);
    expect(sent).toEqual([]);
    expect(lines.some((l) => /armed-zones file/.test(l.msg))).toBe(false);

    await late.open();
    up = true;
    expect(await started).toMatchObject({ fromHistory: true, cursor: '0-0' });
    expect(w.runtime.dispatcher.actuatorData(MINE, 'f1', 'hvac')).toEqual({ mode: 'cool' });
    expect(decodeSnapshot(await conn.hgetall(KEYS.state(P))).actuators.get(`${MINE}/f1/hvac`)).toMatchObject({ data: { mode: 'cool' }, rule: 'cool' });
    await w.process([cold, await add(line(MINE, 31.5, 'r-3', now))]);
    expect(commandsSent(sent).map((c) => [c.zone, c.rule, c.cloudEvent.data])).toEqual([['f2', 'heat', { mode: 'heat' }]]);
  });

  it('past its bound, goes live from what it has (nothing) and says so: a smoke rule must not stay unruled', async () => {
    const db = await storedHistory();
    const late = await lateInflux();
    const history = new InfluxHistory({ url: late.url, database: db, up: () => false });
    const { conn, acquire, worker } = await partitionOwners({ rules, commands, log, undo, name: 'test-seed-retry' });
    await conn.set(KEYS.dataLost, 'epoch-2');
    const { logger, lines } = capture();
    const w = worker(await acquire('A'), [], logger, rules, { history, partitions: PARTITIONS, waitMs: 0, retryForMs: 0 });
    expect(await w.start()).toMatchObject({ fromHistory: true });
    expect(w.live).toBe(true);
    expect(lines.filter((l) => l.code === 'GW_ERR_HISTORY' && l.level === 50 && /ruled live from what was read/.test(l.msg))).toHaveLength(1);
    expect(await conn.exists(KEYS.state(P))).toBe(1);
  });
});

describe('what a partition rebuilt from InfluxDB reads of it', () => {
  it('asks for its own sites only, not every site\'s points to drop them (device statuses, which name none, still read)', async () => {
    const influx = inject('influxUrl');
    const now = Date.now();
    const db = uniqueDb('seedsites');
    await fetch(`${influx}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
    const at = (ms: number) => () => pointTime(ms, 0);
    const points: string[] = [];
    SITES.forEach((site, i) => {
      for (const ms of [now - 200_000, now - 60_000]) {
        const r = reading(ms + i, site, 20, `r-${site}-${ms}`);
        const c = command(ms + i, site, 'cool', { mode: 'cool' }, `r-${site}-${ms}`);
        if (r.type === 'reading' && c.type === 'command') points.push(readingPoint(r.event, at(ms + i)()), commandPoint(c.event, at(ms + i)));
      }
    });
    points.push(deviceStatusPoint({ id: 's-1', device: 't-9', online: true, time: new Date(now - 60_000).toISOString(), timeMs: now - 60_000, clientId: undefined }, at(now - 60_000)));
    expect((await fetch(`${influx}/write?db=${db}`, { method: 'POST', body: points.join('\n') })).status).toBe(204);

    // What InfluxDB answers, counted before the partition's filter.
    const inner = new InfluxHistory({ url: influx, database: db });
    let fetched = 0;
    const counted: History = {
      description: inner.description,
      caughtUp: (ms) => inner.caughtUp(ms),
      latestBefore: async (ms, sites) => {
        const items = await inner.latestBefore(ms, sites);
        fetched += items.length;
        return items;
      },
      async *read(range) {
        for await (const page of inner.read(range)) {
          fetched += page.length;
          yield page;
        }
      },
      related: (ids, range) => inner.related(ids, range),
      sites: () => inner.sites(),
    };
    const h = partitionHistory(counted, P, PARTITIONS, () => Promise.resolve(new Set<string>()));
    const kept = [...(await h.latestBefore(now - 100_000))];
    for await (const page of h.read({ fromMs: now - 100_000, toMs: now, types: ['reading', 'command', 'deviceStatus'] })) kept.push(...page);
    const mine = SITES.filter((site) => partitionOf(site, PARTITIONS) === P);
    // Before the window: each of its sites' command; in it: each one's reading and command, and the device's status.
    expect(kept).toHaveLength(3 * mine.length + 1);
    expect(kept.some((i) => i.type === 'deviceStatus')).toBe(true);
    expect(fetched).toBe(kept.length);
  });
});
