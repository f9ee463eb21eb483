/**
 * A partition owner with issue 11's runtime (a real redis-server): alarms and command sagas are in
 * the shared state, a takeover has them as the last owner left them, a stale owner's outputs never
 * go out, and an acknowledgement taken on any node reaches the owner through the stream.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionWorker, type StreamEntry } from '../../../gateway/cluster/partition-worker.js';
import { KEYS } from '../../../gateway/cluster/redis-keys.js';
import { ClusterRulesView } from '../../../gateway/cluster/rules-view.js';
import { pointTime } from '../../../gateway/storage/line.js';
import type { RuleOutput } from '../../../gateway/rules/outputs.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { decodeSnapshot } from '../../../gateway/rules/shared-state.js';
import { P, partitionOwners } from '../../helpers/partition-owners.js';
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
      { name: 'hot', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 30 }] }, event: { type: 'alert', params: { severity: 'warning', message: '{{device}} is hot' } } },
    ],
  }),
);
const rules = { rules: pack.rules, actuators: pack.actuators };
const commands = { confirmMs: 60_000, retries: 2, holdMs: 60_000 };

function readingLine(value: number, id: string, at: number): string {
  return `temperature,device=t-1,site=hq,zone=f1 value=${value},event_id="${id}" ${pointTime(at, 0)}`;
}
function reportLine(state: Record<string, unknown>, id: string, at: number): string {
  return `actuator_state,actuator=hvac,site=hq,zone=f1 state="${JSON.stringify(state).replace(/"/g, '\\"')}",device="hvac-1",event_id="${id}" ${pointTime(at, 0)}`;
}

async function setup() {
  const owners = await partitionOwners({ rules, commands, log, undo, name: 'test-worker' });
  const entriesAfter = async (cursor: string): Promise<StreamEntry[]> => (await owners.conn.xrange(KEYS.stream(P), `(${cursor}`, '+'));
  return { ...owners, entriesAfter };
}

const kinds = (sent: readonly RuleOutput[]): string[] =>
  sent.map((o) => (o.type === 'outcome' ? o.outcome.kind : o.type === 'alarm' ? `alarm.${o.event.transition}` : o.type === 'status' ? `status.${o.event.status}` : 'resend'));

describe('a partition owner\'s armed zones', () => {
  it('keeps the shared state within the bound of armed zones: a disarmed zone forgotten is deleted from it, a refused arming never written; a takeover has the same', async () => {
    const owners = await partitionOwners({ rules, commands, log, undo, name: 'test-armed', bounds: { armedZones: 3 } });
    const { conn, acquire, worker, add } = owners;
    const a = worker(await acquire('A'), []);
    await a.start();
    const t = Date.now();
    const arm = (zone: string, armed: boolean, i: number) => add(`zone_state,site=hq,zone=${zone} armed=${armed},event_id="arm-${i}" ${pointTime(t + i, 0)}`);
    const entries = [await arm('vault', true, 1), await arm('lobby', false, 2), await arm('lab', true, 3), await arm('gate', true, 4), await arm('x1', true, 5)];
    await a.process(entries);
    const armed = async () => Object.fromEntries(decodeSnapshot(await conn.hgetall(KEYS.state(P))).armed);
    // The lobby (disarmed) made room for the gate; x1 found every zone armed: refused, never written.
    await waitFor(async () => Object.keys(await armed()).length === 3 && (await armed())['hq/gate'] === true, 'the armed zones committed');
    expect(await armed()).toEqual({ 'hq/vault': true, 'hq/lab': true, 'hq/gate': true });
    expect(a.runtime.state.isArmed('hq', 'x1')).toBe(false);
    const b = worker(await acquire('B'), []);
    await b.start();
    expect(b.runtime.state.armedStates()).toHaveLength(3);
    expect(b.runtime.state.isArmed('hq', 'vault')).toBe(true);
  });
});

describe('a partition owner with alarms and command sagas', () => {
  it('commits alarms, sagas and reports to the shared state; a takeover has them; a stale owner sends nothing', async () => {
    const { conn, acquire, worker, add, entriesAfter } = await setup();
    const sentA: RuleOutput[] = [];
    const a = worker(await acquire('A'), sentA);
    await a.start();
    const now = Date.now();
    // The actuator reports (so its commands are confirmed), then a hot reading.
    await a.process([await add(reportLine({ mode: 'off' }, 's-1', now)), await add(readingLine(31, 'r-1', now + 1))]);
    expect(kinds(sentA)).toEqual(expect.arrayContaining(['command', 'status.sent', 'alarm.raised', 'alert']));
    const state = decodeSnapshot(await conn.hgetall(KEYS.state(P)));
    expect([...state.alarms.values()].map((t) => [t.rule, t.transition, t.active])).toEqual([['hot', 'raised', true]]);
    expect(state.actuators.get('hq/f1/hvac')).toMatchObject({ data: { mode: 'cool' }, rule: 'cool' });
    expect(state.sagas.get('hq/f1/hvac')).toMatchObject({ attempt: 0, command: { rule: 'cool' } });
    expect(state.reports.get('hq/f1/hvac')).toMatchObject({ state: { mode: 'off' }, device: 'hvac-1' });
    // Everything sent was taken out of the outbox.
    await waitFor(async () => (await conn.hlen(KEYS.outbox(P))) === 0, 'the outbox emptied after sending');

    // A is cut off (not stopped); B takes the partition over.
    const sentB: RuleOutput[] = [];
    const b = worker(await acquire('B'), sentB);
    await b.start();
    expect(b.runtime.alarms.active().map((x) => x.rule)).toEqual(['hot']);
    expect(b.runtime.commands.waiting('hq/f1/hvac')).toMatchObject({ attempt: 0 });
    expect(b.runtime.dispatcher.actuatorData('hq', 'f1', 'hvac')).toEqual({ mode: 'cool' });
    // Nothing came out of the rebuild: it was a dry run.
    expect(sentB).toEqual([]);

    // A, stale, rules another reading: Redis refuses its commit, nothing goes out.
    const before = sentA.length;
    await a.process([await add(readingLine(35, 'r-2', Date.now()))]);
    expect(sentA.length).toBe(before);

    // B rules on from its cursor: the report confirms the command A sent.
    const report = await add(reportLine({ mode: 'cool' }, 's-2', Date.now()));
    await b.process((await entriesAfter(b.cursor)).filter(([id]) => id <= report[0]));
    expect(kinds(sentB)).toContain('status.confirmed');
    expect(decodeSnapshot(await conn.hgetall(KEYS.state(P))).sagas.size).toBe(0);

    // An acknowledgement taken on any node reaches B through the stream.
    const view = new ClusterRulesView({ redis: conn, partitions: 1, log });
    await view.refresh();
    const alarm = view.alarms()[0]!;
    expect(await view.acknowledge({ alarmId: alarm.id, by: 'ops', note: undefined, id: 'ack-1' })).toMatchObject({ id: alarm.id, acknowledged: true });
    await b.process(await entriesAfter(b.cursor));
    expect(kinds(sentB)).toContain('alarm.acknowledged');
    await view.refresh();
    expect(view.alarm(alarm.id)).toMatchObject({ acknowledged: true, acknowledgedBy: 'ops' });
  });

  it('counts each reading once across a takeover and a handback: the replay of the window does not count again what the shared state has', async () => {
    const { conn, acquire, worker, add, entriesAfter } = await setup();
    const countOf = (w: PartitionWorker): number[] => w.runtime.alarms.active().map((x) => x.count);
    const a = worker(await acquire('A'), []);
    await a.start();
    const now = Date.now();
    // A raise (a stored point), then an update within 10 s (no stored point of its own).
    await a.process([await add(readingLine(31, 'r-1', now)), await add(readingLine(32, 'r-2', now + 1))]);
    expect(countOf(a)).toEqual([2]);
    await a.flushCursor();

    // A dies (not stopped); B takes over.
    const b = worker(await acquire('B'), []);
    await b.start();
    expect(countOf(b)).toEqual([2]);
    await b.process([await add(readingLine(33, 'r-3', now + 2))]);
    expect(countOf(b)).toEqual([3]);

    // A comes back and B hands the partition back (stops, committing what it ruled).
    await b.stop();
    const sent: RuleOutput[] = [];
    const a2 = worker(await acquire('A'), sent);
    await a2.start();
    expect(countOf(a2)).toEqual([3]);
    await a2.process((await entriesAfter(a2.cursor)).concat([await add(readingLine(34, 'r-4', now + 3))]));
    expect(countOf(a2)).toEqual([4]);
    await a2.flushCursor();
    // Every node's /api/alarms (the shared state) says the same.
    const view = new ClusterRulesView({ redis: conn, partitions: 1, log });
    await view.refresh();
    expect(view.alarms().map((x) => x.count)).toEqual([4]);
  });

  it('commits a reading\'s effects with its cursor even when a wake-up\'s commit runs during the batch: a node dying then does not count it twice', async () => {
    const { conn, acquire, worker, add, entriesAfter } = await setup();
    const a = worker(await acquire('A'), []);
    await a.start();
    await a.process([await add(readingLine(31, 'r-1', Date.now()))]);
    const report = await add(reportLine({ mode: 'cool' }, 's-1', Date.now()));
    const again = await add(readingLine(32, 'r-2', Date.now()));
    // An output outside any batch (what a timer's wake-up makes): its commit starts on the next
    // turn, which comes while the batch commits its first entry.
    a.runtime.alarms.acknowledge(a.runtime.alarms.active()[0]!.id, 'ops', undefined, 'ack-outside');
    const ruling = a.process([report, again]);
    // A dies once it has ruled the second reading: its later writes are fenced off, as a dead node's are.
    await waitFor(() => a.runtime.alarms.active()[0]?.count === 2, 'the second reading ruled');
    await conn.incr(KEYS.fence(P));
    await ruling;

    const b = worker(await acquire('B'), []);
    await b.start();
    await b.process(await entriesAfter(b.cursor));
    expect(b.runtime.alarms.active().map((x) => x.count)).toEqual([2]);
  });

  it('an operator’s clear taken on any node reaches the owner: the alarm is cleared and leaves the shared state', async () => {
    const { conn, acquire, worker, add, entriesAfter } = await setup();
    const sent: RuleOutput[] = [];
    const w = worker(await acquire('A'), sent);
    await w.start();
    await w.process([await add(readingLine(31, 'r-1', Date.now()))]);
    const view = new ClusterRulesView({ redis: conn, partitions: 1, log });
    await view.refresh();
    const alarm = view.alarms()[0]!;
    expect(await view.acknowledge({ alarmId: alarm.id, by: 'ops', note: 'sensor moved', id: 'ack-2', clear: true })).toMatchObject({ id: alarm.id, state: 'cleared' });
    await w.process(await entriesAfter(w.cursor));
    expect(kinds(sent)).toEqual(expect.arrayContaining(['alarm.acknowledged', 'alarm.cleared']));
    expect(w.runtime.alarms.active()).toEqual([]);
    await view.refresh();
    expect(view.alarms()).toEqual([]);
  });

  it('a takeover by a node without an active alarm\'s rule says so at warn, and keeps the alarm active (ruleNotLoaded) as a restart does', async () => {
    const { acquire, worker, add } = await setup();
    const a = worker(await acquire('A'), []);
    await a.start();
    await a.process([await add(readingLine(31, 'r-1', Date.now()))]);
    const raised = a.runtime.alarms.active().map((x) => x.id);
    expect(raised).toHaveLength(1);

    const warned: { msg: string; alarmId?: string }[] = [];
    const heard = pino({ level: 'warn' }, { write: (l: string) => void warned.push(JSON.parse(l) as { msg: string; alarmId?: string }) });
    const withoutHot = { rules: pack.rules.filter((r) => r.name !== 'hot'), actuators: pack.actuators };
    const b = worker(await acquire('B'), [], heard, withoutHot);
    await b.start();
    expect(b.runtime.alarms.active().map((x) => [x.id, x.withoutRule])).toEqual([[raised[0], true]]);
    expect(warned.filter((l) => l.msg.includes('its rule is not loaded')).map((l) => l.alarmId)).toEqual(raised);
  });

  it('counts and says a forwarded line it cannot read (a kind this node does not know), rules the rest, and moves its cursor past it', async () => {
    const { conn, acquire, worker, add } = await setup();
    const warned: { msg: string; line?: string }[] = [];
    const heard = pino({ level: 'warn' }, { write: (l: string) => void warned.push(JSON.parse(l) as { msg: string; line?: string }) });
    const sent: RuleOutput[] = [];
    const w = worker(await acquire('A'), sent, heard);
    await w.start();
    const now = Date.now();
    const unknown = await add(`unheard_of_kind,device=t-1,site=hq,zone=f1 value=3,event_id="u-1" ${pointTime(now, 0)}`);
    const reading = await add(readingLine(31, 'r-1', now + 1));
    // An acknowledgement another node wrote that this one cannot read is counted alike.
    const badAck = (await conn.xadd(KEYS.stream(P), '*', 'k', 'ack', 'x', '{"alarmId":7'))!;
    await w.process([unknown, [badAck, ['k', 'ack', 'x', '{"alarmId":7']], reading]);
    expect(w.counts).toMatchObject({ unreadable: 2, ruled: 1 });
    expect(kinds(sent)).toContain('command');
    expect(warned.filter((l) => l.msg.includes('cannot read')).map((l) => l.line)).toEqual([expect.stringContaining('unheard_of_kind,device=t-1'), '{"alarmId":7']);
    expect(w.cursor).toBe(reading[0]);
  });

  it('takes a device\'s status in turn with the readings, and drops one forwarded again (same event id)', async () => {
    const { acquire, worker, add } = await setup();
    const w = worker(await acquire('A'), []);
    await w.start();
    const now = Date.now();
    const offline = `device_status,device=t-1 online=false,event_id="st-1" ${pointTime(now, 0)}`;
    const first = await add(offline);
    const again = await add(offline);
    await w.process([first, await add(readingLine(21, 'r-1', now + 1)), again]);
    expect(w.counts).toMatchObject({ duplicates: 1, ruled: 1, unreadable: 0 });
    expect(w.cursor).toBe(again[0]);
  });
});
