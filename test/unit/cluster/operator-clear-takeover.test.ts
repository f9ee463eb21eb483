/**
 * An operator's clear of a per-device alarm, taken on any node, reaches the partition's owner
 * through the stream: the owner forgets the device (its last `smoke: true` no longer holds
 * `anyInSite`, its silence watch no longer runs), and so does a node that takes the partition over and replays the stream, where
 * the cleared alarm is no longer known (a real redis-server).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS } from '../../../gateway/cluster/redis-keys.js';
import { ClusterRulesView } from '../../../gateway/cluster/rules-view.js';
import type { RuleOutput } from '../../../gateway/rules/outputs.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { pointTime } from '../../../gateway/storage/line.js';
import { P, partitionOwners } from '../../helpers/partition-owners.js';

const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
});

const pack = parsePack(
  't.json',
  JSON.stringify({
    rules: [
      { name: 'smoke-alarm', kinds: ['smoke'], conditions: { all: [{ fact: 'value', operator: 'equal', value: true }] }, event: { type: 'alert', params: { severity: 'critical', message: 'smoke at {{device}}', per: 'device', clearWhen: { all: [{ fact: 'value', operator: 'equal', value: false }] } } } },
      { name: 'smoke-silent', kinds: ['smoke'], conditions: { all: [{ fact: 'absent', params: { scope: 'device', for: '30m' }, operator: 'equal', value: true }] }, event: { type: 'alert', params: { severity: 'warning', message: 'silent {{device}}' } } },
      { name: 'heat', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 16 }, { fact: 'anyInSite', params: { kind: 'smoke' }, operator: 'equal', value: false }] }, event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'heat' } } } },
    ],
  }),
);
const rules = { rules: pack.rules, actuators: pack.actuators };
const commands = { confirmMs: 60_000, retries: 2, holdMs: 60_000 };

const smokeLine = (id: string, at: number): string => `smoke,device=sd5,site=hq,zone=k1 value=1,event_id="${id}" ${pointTime(at, 0)}`;
const coldLine = (zone: string, id: string, at: number): string => `temperature,device=t-${zone},site=hq,zone=${zone} value=15,event_id="${id}" ${pointTime(at, 0)}`;
const commandsTo = (sent: readonly RuleOutput[], zone: string): number => sent.filter((o) => o.type === 'outcome' && o.outcome.kind === 'command' && o.outcome.zone === zone).length;

describe('an operator clears a removed detector’s smoke alarm in a cluster', () => {
  it('the owner forgets the detector, and so does the node that takes the partition over', async () => {
    const lines: { msg: string; alarmId?: string; device?: string; kinds?: string[]; replayed?: boolean }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const { conn, acquire, worker, add } = await partitionOwners({ rules, commands, log, undo, name: 'test-clear' });
    const sentA: RuleOutput[] = [];
    const a = worker(await acquire('A'), sentA);
    await a.start();
    await a.process([await add(smokeLine('s-1', Date.now()))]);
    expect(a.runtime.state.anyInSite('hq', 'smoke')).toBe(true);
    expect(a.runtime.watches.trackCount).toBe(1);
    const view = new ClusterRulesView({ redis: conn, partitions: 1, log });
    await view.refresh();
    const alarm = view.alarms()[0]!;
    expect(await view.acknowledge({ alarmId: alarm.id, by: 'ops', note: 'sd5 removed', id: 'ack-1', clear: true })).toMatchObject({ state: 'cleared' });
    const [ack] = await conn.xrange(KEYS.stream(P), '-', '+').then((all) => all.slice(-1));
    await a.process([ack!, await add(coldLine('f1', 't-1', Date.now()))]);
    expect(a.runtime.state.anyInSite('hq', 'smoke')).toBe(false);
    // Its absence (scope device) is forgotten too: no "silent" for it 30 minutes later.
    expect(a.runtime.watches.trackCount).toBe(0);
    expect(commandsTo(sentA, 'f1')).toBe(1);
    expect(lines.find((l) => l.alarmId === alarm.id && l.kinds !== undefined)).toMatchObject({ device: 'sd5', kinds: ['smoke'] });

    // A is cut off; B takes over and replays the stream: the smoke reading, then the clear.
    const sentB: RuleOutput[] = [];
    const b = worker(await acquire('B'), sentB);
    await b.start();
    expect(b.runtime.alarms.active()).toEqual([]);
    expect(b.runtime.state.anyInSite('hq', 'smoke')).toBe(false);
    expect(b.runtime.watches.trackCount).toBe(0);
    expect(lines.find((l) => l.alarmId === alarm.id && l.replayed === true)).toMatchObject({ device: 'sd5', kinds: ['smoke'] });
    await b.process([await add(coldLine('f2', 't-2', Date.now()))]);
    expect(commandsTo(sentB, 'f2')).toBe(1);
  });
});
