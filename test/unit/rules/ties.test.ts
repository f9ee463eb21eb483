/**
 * Two rules sending one actuator different commands for the same reading, with the same priority
 * (the default priority is 1: ties are the normal case). Which one wins is the rules' name order,
 * whatever the pack files are called or how the conditions are written; the trace says why the
 * other lost; a run that changed nothing is still in the recent trace. On the gateway's real
 * rules path (the sandbox: ingest, rules service and runtime on a manual clock).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTrace } from '../../../gateway/cli/trace-format.js';
import { RulesSandbox } from '../../../gateway/lab/sandbox.js';
import { useTempDirs } from '../../helpers/temp-dirs.js';

const tempDir = useTempDirs('gw-ties-');

interface Fan {
  readonly name: string;
  readonly above: number;
  readonly state: 'on' | 'off';
  readonly priority?: number;
  /** Extra conditions that always hold (a rule written with more conditions takes longer to evaluate). */
  readonly padding?: number;
}

function pack(name: string, rules: readonly Fan[]): string {
  return JSON.stringify({
    name,
    rules: rules.map((r) => ({
      name: r.name,
      kinds: ['power'],
      priority: r.priority ?? 10,
      conditions: {
        all: [
          ...Array.from({ length: r.padding ?? 0 }, () => ({ any: [{ all: [{ fact: 'kind', operator: 'equal', value: 'power' }] }] })),
          { fact: 'value', operator: 'greaterThan', value: r.above },
        ],
      },
      event: { type: 'command', params: { actuator: 'fan', data: { state: r.state } } },
    })),
  });
}

async function sandbox(files: Record<string, string>): Promise<RulesSandbox> {
  const dir = await tempDir();
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  const s = await RulesSandbox.create({ rulesDir: dir, startMs: Date.parse('2026-03-02T10:00:00Z') });
  expect(s.ruleProblems).toEqual([]);
  return s;
}

const FAN_OFF: Fan = { name: 'fan-off', above: 50, state: 'off' };
const FAN_ON: Fan = { name: 'fan-on', above: 100, state: 'on' };

/** Sends one power reading; returns the commands it caused (rule and data). */
async function power(s: RulesSandbox, value: number, id: string): Promise<{ rule: unknown; data: unknown }[]> {
  await s.send('sensors/hq/f1/meter-1/power', JSON.stringify({ value, id }));
  return s.takeOutputs().map((o) => ({ rule: o.payload['source'], data: o.payload['data'] }));
}

describe('equal priorities for one actuator', () => {
  it('the same rule wins whatever the pack files are called (renaming fan-a.json to zz-fan-a.json flipped it)', async () => {
    const winners: unknown[] = [];
    for (const onFile of ['fan-a.json', 'zz-fan-a.json']) {
      const s = await sandbox({ 'fan-b.json': pack('fan-b', [FAN_OFF]), [onFile]: pack('fan-a', [FAN_ON]) });
      try {
        winners.push(await power(s, 120, `r-${onFile}`));
      } finally {
        await s.stop();
      }
    }
    expect(winners).toEqual([[{ rule: 'rules/fan-off', data: { state: 'off' } }], [{ rule: 'rules/fan-off', data: { state: 'off' } }]]);
  });

  it('the rule whose name sorts first wins in one pack too, however many conditions either has', async () => {
    for (const rules of [
      [{ ...FAN_ON, name: 'a-fan-on', padding: 3 }, FAN_OFF],
      [FAN_OFF, { ...FAN_ON, name: 'a-fan-on', padding: 3 }],
    ]) {
      const s = await sandbox({ 'fan.json': pack('fan', rules) });
      try {
        expect(await power(s, 120, 'r1')).toEqual([{ rule: 'rules/a-fan-on', data: { state: 'on' } }]);
      } finally {
        await s.stop();
      }
    }
  });

  it('the trace says the priorities were the same and why the winner won; a higher priority is said as such', async () => {
    const s = await sandbox({ 'fan-b.json': pack('fan-b', [FAN_OFF]), 'zz-fan-a.json': pack('fan-a', [FAN_ON]) });
    try {
      await power(s, 120, 'tie-1');
      const text = formatTrace(await s.service.traceOf('tie-1'));
      expect(text).toMatch(/held back\s+fan-on → hq\/f1\/fan: lost to fan-off \{"state":"off"\}: same priority \(10\); of rules with the same priority, the one whose name sorts first wins/);
      expect(text).not.toContain('higher-priority');
      // The steady state: the winner already so, the loser still losing: kept as a quiet run, said the same when asked.
      await power(s, 120, 'tie-2');
      expect(formatTrace(await s.service.traceOf('tie-2'))).toMatch(/fan-on → hq\/f1\/fan: lost to fan-off \{"state":"off"\}: same priority \(10\)/);
    } finally {
      await s.stop();
    }
    const ranked = await sandbox({ 'fan.json': pack('fan', [{ ...FAN_OFF, priority: 20 }, FAN_ON]) });
    try {
      await power(ranked, 120, 'ranked-1');
      expect(formatTrace(await ranked.service.traceOf('ranked-1'))).toMatch(/fan-on → hq\/f1\/fan: lost to fan-off \{"state":"off"\}: higher priority \(20 against 10\)/);
    } finally {
      await ranked.stop();
    }
  });
});

describe('the trace of a run that changed nothing', () => {
  it('shows, from memory, the rule that fired and that the actuator was already in that state', async () => {
    const s = await sandbox({ 'fan.json': pack('fan', [FAN_OFF]) });
    try {
      expect(await power(s, 60, 'first')).toHaveLength(1);
      expect(await power(s, 70, 'again')).toEqual([]);
      const trace = await s.service.traceOf('again');
      expect(trace).toMatchObject({ found: true, from: 'memory', root: 'again' });
      const text = formatTrace(trace);
      expect(text).toMatch(/reading\s+again {2}hq\/f1\/meter-1 power = 70/);
      expect(text).toMatch(/rule\s+fan-off fired: value = 70 greaterThan 50 ✓/);
      expect(text).toMatch(/held back\s+fan-off → hq\/f1\/fan: the actuator is already in that state/);
    } finally {
      await s.stop();
    }
  });

  it('says that no firing was kept for a reading with nothing after it, and what that can mean', () => {
    const text = formatTrace({ id: 'quiet', found: true, from: 'influxdb', root: 'quiet', steps: [{ t: 0, step: 'reading', id: 'quiet', source: 'hq/f1/meter-1', kind: 'power', value: 10 }] });
    expect(text.split('\n')).toHaveLength(3);
    expect(text).toMatch(/no rule firing was kept for this reading: no rule matched it, or what fired changed nothing/);
  });
});
