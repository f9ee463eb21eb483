/**
 * Readings for ever-new zones that fire a command rule and an alert rule (one credential that may
 * publish for any device, or a misconfigured fleet): what the rules remember per actuator (what it
 * was commanded, what it reported, the command waiting for it) and the active alarms stay within
 * their bounds (rules/bounds.ts). What carries safety meaning while it lasts (a command waiting for
 * its confirmation, an actuator within its minimum on/off time, an active alarm) is never
 * forgotten: when only such entries remain, the newcomer is refused and counted.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ActuatorStateEvent, AlertEvent, CommandEvent, ReadingEvent } from '../../../gateway/core/events.js';
import { KINDS, type BuiltinKind as Kind } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { Outcome, Suppression } from '../../../gateway/rules/actions.js';
import type { RuleBounds } from '../../../gateway/rules/bounds.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { RulesRuntime } from '../../../gateway/rules/runtime.js';

let n = 0;
function reading(clock: ManualClock, source: string, kind: Kind, value: number | boolean): ReadingEvent {
  const [site = '', zone = '', device = ''] = source.split('/');
  const timeMs = clock.now();
  const time = new Date(timeMs).toISOString();
  return { id: `r${++n}`, type: `sensor.${kind}`, source, time, receivedAt: time, seq: n, site, zone, device, kind, value, numeric: KINDS[kind].toNumber(value), timeMs, clientId: undefined };
}
function report(clock: ManualClock, target: string, state: Record<string, unknown>): ActuatorStateEvent {
  const [site = '', zone = '', actuator = ''] = target.split('/');
  const timeMs = clock.now();
  return { id: `s${++n}`, site, zone, actuator, state, device: `${actuator}-dev`, time: new Date(timeMs).toISOString(), timeMs, clientId: undefined };
}

const COOL = { name: 'cool', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 28 }] }, event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'cool' } } } };
const HOT = { name: 'hot', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 28 }] }, event: { type: 'alert', params: { severity: 'warning', message: '{{zone}} hot' } } };

function setup(bounds: Partial<RuleBounds>, pack: object = { rules: [COOL, HOT] }) {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const outcomes: Outcome[] = [];
  const suppressed: Suppression[] = [];
  const evicted: string[] = [];
  const refused: string[] = [];
  const runtime = new RulesRuntime({
    clock,
    log: pino({ level: 'silent' }),
    onOutcome: (o) => outcomes.push(o),
    commands: { confirmMs: 10_000, retries: 2, holdMs: 30 * 60_000 },
    bounds,
    observer: { forgot: (what) => void evicted.push(what), refused: (what) => void refused.push(what), suppressed: (s) => void suppressed.push(s) },
  });
  const { rules, actuators } = parsePack('t.json', JSON.stringify(pack));
  runtime.use({ rules, actuators });
  const advance = async (ms: number): Promise<void> => {
    const to = clock.now() + ms;
    await runtime.idle();
    while (clock.fireNext(to)) await runtime.idle();
    clock.advanceTo(to);
  };
  const commandsTo = (target: string) => outcomes.filter((o): o is CommandEvent => o.kind === 'command' && `${o.site}/${o.zone}/${o.actuator}` === target);
  const alertsOf = (zone: string) => outcomes.filter((o): o is AlertEvent => o.kind === 'alert' && o.cloudEvent.data.zone === zone);
  return { clock, runtime, outcomes, suppressed, evicted, refused, advance, commandsTo, alertsOf };
}

describe('the rules under readings for ever-new zones that fire', () => {
  it('remember at most their bound of actuators, reports and active alarms, and count what they forget or refuse', async () => {
    const { clock, runtime, evicted, refused, advance } = setup({ actuators: 50, alarms: 50 });
    for (let i = 0; i < 1000; i++) {
      runtime.onActuatorState(report(clock, `hq/z${i}/fan`, { on: true }));
      runtime.onReading(reading(clock, `hq/z${i}/t${i}`, 'temperature', 30));
    }
    await advance(0);
    // Each zone's hvac was commanded, each fan reported, each zone's alarm raised: 1,000 of each without the bounds.
    expect(runtime.dispatcher.all().size).toBeLessThanOrEqual(50);
    expect(runtime.commands.memory.reportCount).toBeLessThanOrEqual(50);
    expect(runtime.alarms.size).toBeLessThanOrEqual(50);
    expect(runtime.alarms.active()).toHaveLength(runtime.alarms.size);
    expect(new Set(evicted)).toEqual(new Set(['actuator', 'report']));
    // No alarm is forgotten while active: the newcomers are refused.
    expect(new Set(refused)).toEqual(new Set(['alarm']));
  });

  it('never forget an actuator whose command waits for its confirmation: the newcomer is refused until one is confirmed, then the one idle longest goes', async () => {
    const { clock, runtime, refused, suppressed, advance, commandsTo } = setup({ actuators: 5 }, { rules: [COOL] });
    for (let i = 0; i < 5; i++) runtime.onActuatorState(report(clock, `hq/z${i}/hvac`, { mode: 'off' }));
    await advance(0);
    for (let i = 0; i < 5; i++) runtime.onReading(reading(clock, `hq/z${i}/t${i}`, 'temperature', 30));
    await advance(1000);
    expect([0, 1, 2, 3, 4].map((i) => runtime.commands.waiting(`hq/z${i}/hvac`) !== undefined)).toEqual([true, true, true, true, true]);
    // A sixth actuator: every one remembered waits for a confirmation.
    runtime.onReading(reading(clock, 'hq/z5/t5', 'temperature', 30));
    await advance(1000);
    expect(commandsTo('hq/z5/hvac')).toHaveLength(0);
    expect(refused).toEqual(['actuator']);
    expect(suppressed).toContainEqual({ kind: 'memory-full', rule: 'cool', target: 'hq/z5/hvac' });
    expect([...runtime.dispatcher.all().keys()]).toEqual(['hq/z0/hvac', 'hq/z1/hvac', 'hq/z2/hvac', 'hq/z3/hvac', 'hq/z4/hvac']);
    // z2 confirms: its actuator is idle now, and goes to make room.
    runtime.onActuatorState(report(clock, 'hq/z2/hvac', { mode: 'cool' }));
    runtime.onReading(reading(clock, 'hq/z5/t5', 'temperature', 30));
    await advance(1000);
    expect(commandsTo('hq/z5/hvac')).toHaveLength(1);
    expect([...runtime.dispatcher.all().keys()].sort()).toEqual(['hq/z0/hvac', 'hq/z1/hvac', 'hq/z3/hvac', 'hq/z4/hvac', 'hq/z5/hvac']);
    // The sagas still waiting went on: retried, not dropped.
    expect(runtime.commands.waiting('hq/z0/hvac')).toMatchObject({ attempt: 0 });
    await advance(10_000);
    expect(runtime.commands.waiting('hq/z0/hvac')).toMatchObject({ attempt: 1 });
  });

  it('never forget an actuator within its minimum on/off time', async () => {
    const pack = { actuators: { hvac: { off: { mode: 'off' }, minOn: '10m', minOff: '10m' } }, rules: [COOL] };
    const { clock, runtime, refused, advance, commandsTo } = setup({ actuators: 3 }, pack);
    for (let i = 0; i < 3; i++) runtime.onReading(reading(clock, `hq/z${i}/t${i}`, 'temperature', 30));
    await advance(60_000);
    runtime.onReading(reading(clock, 'hq/z3/t3', 'temperature', 30));
    await advance(0);
    expect(commandsTo('hq/z3/hvac')).toHaveLength(0);
    expect(refused).toEqual(['actuator']);
    // Ten minutes on: they may switch again, so the one idle longest goes for the newcomer.
    await advance(10 * 60_000);
    runtime.onReading(reading(clock, 'hq/z3/t3', 'temperature', 30));
    await advance(0);
    expect(commandsTo('hq/z3/hvac')).toHaveLength(1);
    expect([...runtime.dispatcher.all().keys()]).toEqual(['hq/z1/hvac', 'hq/z2/hvac', 'hq/z3/hvac']);
  });

  it('never drop an active alarm: past the bound a new one is refused, and raised once the others cleared', async () => {
    const { clock, runtime, refused, advance, alertsOf } = setup({ alarms: 3 }, { rules: [HOT] });
    for (let i = 0; i < 4; i++) runtime.onReading(reading(clock, `hq/z${i}/t${i}`, 'temperature', 30));
    await advance(0);
    expect(runtime.alarms.active().map((a) => a.zone)).toEqual(['z0', 'z1', 'z2']);
    expect(alertsOf('z3')).toHaveLength(0);
    expect(refused).toEqual(['alarm']);
    // Five minutes without a firing clears them (the default quiet period): z3 is raised when it fires again.
    await advance(6 * 60_000);
    expect(runtime.alarms.size).toBe(0);
    runtime.onReading(reading(clock, 'hq/z3/t3', 'temperature', 30));
    await advance(0);
    expect(alertsOf('z3')).toHaveLength(1);
    expect(runtime.alarms.active().map((a) => a.zone)).toEqual(['z3']);
  });
});
