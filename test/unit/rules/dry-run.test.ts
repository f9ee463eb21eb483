/**
 * The dry-run rebuild (rules/dry-run.ts): recorded readings replayed through a runtime on a
 * ReplayClock, as a dry run (nothing comes out): timers due before the watermark fire in the
 * replay, those due after it fire live, at their own times, once.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { kindSpec, type Kind } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { ReplayClock } from '../../../gateway/core/replay-clock.js';
import type { Outcome } from '../../../gateway/rules/actions.js';
import { dryRun, lookbackMs, DRY_RUN_MARGIN_MS } from '../../../gateway/rules/dry-run.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { DEFAULT_COMMAND_TIMES, RulesRuntime } from '../../../gateway/rules/runtime.js';

const T0 = 1_790_000_000_000;
const rules = [
  { name: 'warm', kinds: ['temperature'], conditions: { all: [{ fact: 'heldFor', params: { operator: 'greaterThan', value: 26, for: '20s' }, operator: 'equal', value: true }] }, event: { type: 'command', params: { actuator: 'fan', data: { state: 'on' } } } },
  { name: 'quiet', kinds: ['motion'], conditions: { all: [{ fact: 'absent', params: { equals: true, for: '15s' }, operator: 'equal', value: true }] }, event: { type: 'command', params: { actuator: 'lights', data: { state: 'off' } } } },
  { name: 'avg', kinds: ['co2'], conditions: { all: [{ fact: 'window', params: { agg: 'avg', within: '10m' }, operator: 'greaterThan', value: 1000 }] }, event: { type: 'command', params: { actuator: 'vent', data: { state: 'on' } } } },
];

function reading(kind: Kind, value: number | boolean, timeMs: number, id: string): ReadingEvent {
  const time = new Date(timeMs).toISOString();
  return { id, type: `sensor.${kind}`, source: 'hq/z1/d', time, receivedAt: time, seq: undefined, site: 'hq', zone: 'z1', device: 'd', kind, value, numeric: kindSpec(kind)!.toNumber(value), timeMs, clientId: undefined };
}

function setup() {
  const live = new ManualClock(T0 + 60_000);
  const clock = new ReplayClock(live);
  const outcomes: { rule: string; at: number; dry: boolean }[] = [];
  const runtime: RulesRuntime = new RulesRuntime({ clock, log: pino({ level: 'silent' }), onOutcome: (o: Outcome) => outcomes.push({ rule: o.rule, at: clock.now(), dry: runtime.dry }) });
  const pack = parsePack('t.json', JSON.stringify({ rules }));
  runtime.use({ rules: pack.rules, actuators: pack.actuators });
  return {
    live,
    clock,
    runtime,
    outcomes,
  };
}

describe('the dry-run rebuild', () => {
  it('looks back the longest window, held-for or absence of the rules in force, plus a margin', () => {
    const pack = parsePack('t.json', JSON.stringify({ rules }));
    expect(lookbackMs({ rules: pack.rules, actuators: {} }, DEFAULT_COMMAND_TIMES)).toBe(10 * 60_000 + DRY_RUN_MARGIN_MS);
  });

  it('fires timers due up to the watermark in the replay and the later ones live, once each, at their times', async () => {
    const { live, clock, runtime, outcomes } = setup();
    // Recorded: 27 °C at T0 (held for 20 s: due T0+20 s) and motion at T0+30 s (absent 15 s: due T0+45 s).
    const items = [
      { atMs: T0, apply: () => runtime.onReading(reading('temperature', 27, T0, 'r1')) },
      { atMs: T0 + 30_000, apply: () => runtime.onReading(reading('motion', true, T0 + 30_000, 'r2')) },
    ];
    // The last owner handled timers up to T0+40 s (so it fired the held-for), then died.
    const result = await dryRun({ runtime, clock, fromMs: T0 - 1000, untilMs: T0 + 40_000, batches: [items] });
    expect(result.items).toBe(2);
    // The held-for fired in the replay, as a dry run: nothing came out (the last owner sent it).
    expect(outcomes).toEqual([]);
    // Live (now is T0+60 s): the absence timer, due after the watermark (at T0+45 s), fires at once, on this clock.
    expect(result.timers).toBeGreaterThan(0);
    live.advanceTo(T0 + 60_000);
    await runtime.idle();
    expect(outcomes).toEqual([{ rule: 'quiet', at: T0 + 60_000, dry: false }]);
    live.advanceTo(T0 + 600_000);
    await runtime.idle();
    expect(outcomes).toHaveLength(1);
  });

  it('never moves the replay past the watermark, even for items recorded after it', async () => {
    const { clock, runtime, outcomes, live } = setup();
    const items = [
      { atMs: T0, apply: () => runtime.onReading(reading('temperature', 27, T0, 'r1')) },
      // Recorded after the held-for fell due, but the watermark says it had not fired yet.
      { atMs: T0 + 25_000, apply: () => runtime.onReading(reading('temperature', 27.5, T0 + 25_000, 'r2')) },
    ];
    await dryRun({ runtime, clock, fromMs: T0 - 1000, untilMs: T0 + 19_000, batches: [items] });
    expect(outcomes).toEqual([]);
    await runtime.idle();
    live.advanceTo(T0 + 60_001);
    await runtime.idle();
    expect(outcomes.map((o) => [o.rule, o.dry])).toEqual([['warm', false]]);
  });
});
