/**
 * A command a minimum on/off time holds back is sent when the time runs out (README, Rules), also
 * when its partition changed owner meanwhile (a node killed: another takes it over) or its owner
 * let it go and took it back (Redis away across the end of the hold). A real redis-server; the
 * owners are PartitionWorkers as cluster/node.ts runs them.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYS } from '../../../gateway/cluster/redis-keys.js';
import type { RuleOutput } from '../../../gateway/rules/outputs.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { decodeSnapshot } from '../../../gateway/rules/shared-state.js';
import { pointTime } from '../../../gateway/storage/line.js';
import { P, partitionOwners } from '../../helpers/partition-owners.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
});

// As the shipped lighting pack, with a minimum on time short enough for a test.
const MIN_ON_MS = 1_500;
const pack = parsePack(
  't.json',
  JSON.stringify({
    actuators: { lights: { minOn: `${MIN_ON_MS}ms`, minOff: '0s', off: { state: 'off' } } },
    rules: [
      { name: 'lights-on', kinds: ['occupancy'], conditions: { all: [{ fact: 'value', operator: 'equal', value: true }] }, event: { type: 'command', params: { actuator: 'lights', data: { state: 'on' } } } },
      { name: 'lights-off-daylight', kinds: ['illuminance'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 500 }] }, event: { type: 'command', params: { actuator: 'lights', data: { state: 'off' } } } },
    ],
  }),
);
const rules = { rules: pack.rules, actuators: pack.actuators };
const commands = { confirmMs: 60_000, retries: 2, holdMs: 60_000 };
const TARGET = 'hq/f12/lights';

async function setup() {
  const { conn, acquire, worker, add } = await partitionOwners({ rules, commands, log, undo, name: 'test-held-back' });
  const occupied = (id: string) => add(`occupancy,device=occ-1,site=hq,zone=f12 value=1,event_id="${id}" ${pointTime(Date.now(), 0)}`);
  const daylight = (id: string) => add(`illuminance,device=lux-1,site=hq,zone=f12 value=600,event_id="${id}" ${pointTime(Date.now(), 0)}`);

  /** The first owner: lights on, then daylight, whose lights-off the minimum on time holds back. */
  const heldBack = async (sent: RuleOutput[]) => {
    const a = worker(await acquire('gw-2'), sent);
    await a.start();
    await a.process([await occupied('o-1')]);
    await a.process([await daylight('l-1')]);
    await a.flushCursor();
    expect(commandsSent(sent)).toEqual([{ state: 'on' }]);
    expect(a.runtime.wakeups.deadline(`r|${TARGET}`)).toBeDefined();
    const changedAt = decodeSnapshot(await conn.hgetall(KEYS.state(P))).actuators.get(TARGET)?.changedAt;
    expect(changedAt).toBeTypeOf('number');
    return { a, until: changedAt! + MIN_ON_MS };
  };
  return { acquire, worker, heldBack };
}

const commandsSent = (sent: readonly RuleOutput[]): unknown[] => sent.flatMap((o) => (o.type === 'outcome' && o.outcome.kind === 'command' ? [o.outcome.cloudEvent.data] : []));

describe('a command held back by a minimum on/off time, across a change of owner', () => {
  it('is sent by the new owner when the time runs out (the old owner killed while it was held)', async () => {
    const { acquire, worker, heldBack } = await setup();
    const { a, until } = await heldBack([]);
    // gw-2 is killed: its timers die with it (what a stale owner would send is fenced anyway).
    a.runtime.wakeups.clear();
    const sentB: RuleOutput[] = [];
    const b = worker(await acquire('gw-1'), sentB);
    await b.start();
    expect(Date.now()).toBeLessThan(until);
    // The hold and its re-run came over with the partition.
    expect(b.runtime.wakeups.deadline(`r|${TARGET}`)).toBe(until);
    expect(commandsSent(sentB)).toEqual([]);
    await waitFor(() => commandsSent(sentB).length > 0, 'the held-back lights-off, sent by the new owner');
    expect(commandsSent(sentB)).toEqual([{ state: 'off' }]);
    expect(b.runtime.dispatcher.actuatorData('hq', 'f12', 'lights')).toEqual({ state: 'off' });
  });

  it('is sent at once by an owner that takes the partition back after the time ran out (Redis away meanwhile)', async () => {
    const { acquire, worker, heldBack } = await setup();
    const { a, until } = await heldBack([]);
    // Redis goes away: the lease runs out and the owner lets the partition go, timers and all.
    await a.stop();
    await waitFor(() => Date.now() > until + 200, 'the end of the minimum on time');
    const sent: RuleOutput[] = [];
    const again = worker(await acquire('gw-2'), sent);
    await again.start();
    await waitFor(() => commandsSent(sent).length > 0, 'the held-back lights-off, sent once the partition is back');
    expect(commandsSent(sent)).toEqual([{ state: 'off' }]);
  });
});
