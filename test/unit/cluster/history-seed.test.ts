/**
 * A partition whose shared state Redis lost (gw:data-lost set, its hash empty) is rebuilt from the
 * history (a real redis-server; the history port in memory, as in rules/rebuild.test.ts): its
 * own sites only, the readings its stream holds left to be ruled live after, and the rebuilt state
 * committed as the shared state. Without the mark, an empty partition starts empty, as before.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { partitionHistory } from '../../../gateway/cluster/history-seed.js';
import { KEYS } from '../../../gateway/cluster/redis-keys.js';
import type { CommandEvent, ReadingEvent } from '../../../gateway/core/events.js';
import { byTime, type History, type HistoryItem } from '../../../gateway/core/history.js';
import { partitionOf } from '../../../gateway/core/partition.js';
import type { RuleOutput } from '../../../gateway/rules/outputs.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { decodeSnapshot } from '../../../gateway/rules/shared-state.js';
import { pointTime } from '../../../gateway/storage/line.js';
import { P, partitionOwners } from '../../helpers/partition-owners.js';

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
