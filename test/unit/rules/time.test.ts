/** The rules' clock and timers: manual time, one timer per watched key, absence without a new reading. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { KINDS, type BuiltinKind as Kind } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { Outcome } from '../../../gateway/rules/actions.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { RulesRuntime } from '../../../gateway/rules/runtime.js';
import { Wakeups } from '../../../gateway/rules/wakeups.js';

function reading(clock: ManualClock, source: string, kind: Kind, value: number | boolean | string, n: number): ReadingEvent {
  const [site = '', zone = '', device = ''] = source.split('/');
  const timeMs = clock.now();
  const time = new Date(timeMs).toISOString();
  return { id: `r${n}`, type: `sensor.${kind}`, source, time, receivedAt: time, seq: n, site, zone, device, kind, value, numeric: KINDS[kind].toNumber(value), timeMs, clientId: undefined };
}

const pack = (rules: unknown[], actuators?: unknown) => parsePack('test.json', JSON.stringify({ rules, actuators }));

function runtimeWith(clock: ManualClock, rules: unknown[], actuators?: unknown) {
  const outcomes: Outcome[] = [];
  /** Every firing, as [reading id, rule] (alerts go to alarms: a firing is not always a notification). */
  const firings: [string, string][] = [];
  const runtime = new RulesRuntime({ clock, log: pino({ level: 'silent' }), onOutcome: (o) => outcomes.push(o), observer: { ran: (r, _wake, fired) => fired.forEach((f) => firings.push([r.id, f.rule.name])) } });
  const { rules: defs, actuators: policies } = pack(rules, actuators);
  runtime.use({ rules: defs, actuators: policies });
  return { runtime, outcomes, firings };
}

async function advance(clock: ManualClock, runtime: RulesRuntime, to: number) {
  await runtime.idle();
  while (clock.fireNext(to)) await runtime.idle();
  clock.advanceTo(to);
}

describe('ManualClock', () => {
  it('fires timers in due order, each at its time, and only when moved', () => {
    const clock = new ManualClock(1000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 200);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 100);
    const c = clock.setTimeout(() => fired.push(['c', clock.now()]), 150);
    clock.clearTimeout(c);
    clock.advanceTo(1150);
    expect(fired).toEqual([['a', 1100]]);
    clock.advanceBy(1000);
    expect(fired).toEqual([['a', 1100], ['b', 1200]]);
    expect(clock.now()).toBe(2150);
  });
});

describe('Wakeups', () => {
  it('keeps one clock timer per key however often its deadline moves later', () => {
    const clock = new ManualClock(0);
    const woke: [string, number][] = [];
    const wakeups = new Wakeups<string>(clock, (key) => woke.push([key, clock.now()]));
    for (let t = 0; t < 1000; t++) {
      clock.advanceTo(t * 10);
      wakeups.set('zone-1', t * 10 + 60_000, 'p');
    }
    expect(clock.pendingTimers).toBe(1);
    clock.advanceTo(200_000);
    expect(woke).toEqual([['zone-1', 9990 + 60_000]]);
    wakeups.set('zone-2', 210_000, 'p');
    wakeups.cancel('zone-2');
    clock.advanceTo(300_000);
    expect(woke).toHaveLength(1);
  });
});

describe('rules over time', () => {
  const absentRule = {
    name: 'silent',
    kinds: ['battery'],
    conditions: { all: [{ fact: 'absent', params: { scope: 'device', for: '10m' }, operator: 'equal', value: true }] },
    event: { type: 'alert', params: { severity: 'warning', message: '{{device}} silent' } },
  };

  it('fires an absence with no new reading, one timer per device however many readings came', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const { runtime, outcomes } = runtimeWith(clock, [absentRule]);
    const start = clock.now();
    for (let i = 0; i < 500; i++) {
      await advance(clock, runtime, start + i * 1000);
      runtime.onReading(reading(clock, 'hq/f1/b1', 'battery', 90, i));
      runtime.onReading(reading(clock, 'hq/f1/b2', 'battery', 90, 10_000 + i));
    }
    await runtime.idle();
    expect(clock.pendingTimers).toBe(2);
    await advance(clock, runtime, start + 499_000 + 599_999);
    expect(outcomes).toEqual([]);
    await advance(clock, runtime, start + 499_000 + 600_000);
    expect(outcomes.map((o) => o.kind === 'alert' && o.cloudEvent.data.message)).toEqual(['b1 silent', 'b2 silent']);
    await advance(clock, runtime, start + 10 * 3_600_000);
    expect(outcomes).toHaveLength(2);
    expect(clock.pendingTimers).toBe(0);
  });

  it('window aggregates read only the readings within the window', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const rule = (name: string, agg: string, op: string, value: number) => ({
      name,
      kinds: ['power'],
      conditions: { all: [{ fact: 'window', params: { agg, within: '1m' }, operator: op, value }] },
      event: { type: 'alert', params: { severity: 'info', message: name } },
    });
    const { runtime, firings } = runtimeWith(clock, [rule('max', 'max', 'greaterThan', 900), rule('min', 'min', 'lessThan', 100), rule('avg', 'avg', 'equal', 500), rule('count', 'count', 'equal', 3), rule('sum', 'sum', 'equal', 1500)]);
    const start = clock.now();
    const values = [1000, 50, 500, 600, 400];
    for (const [i, v] of values.entries()) {
      await advance(clock, runtime, start + i * 30_000);
      runtime.onReading(reading(clock, 'hq/f1/p1', 'power', v, i));
    }
    await runtime.idle();
    // At 2m the window holds 500 (1m), 600 (1m30s), 400 (2m): max 1000 and min 50 have left it.
    const last = firings.filter(([id]) => id === 'r4').map(([, rule]) => rule);
    expect(last.sort()).toEqual(['avg', 'count', 'sum']);
  });

  it('keeps an actuator in its state for its minimum on time unless a rule forces it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const cmd = (name: string, value: number, mode: string, force = false) => ({
      name,
      kinds: ['temperature'],
      conditions: { all: [{ fact: 'value', operator: 'equal', value }] },
      event: { type: 'command', params: { actuator: 'hvac', data: { mode }, force } },
    });
    const { runtime, outcomes } = runtimeWith(clock, [cmd('cool', 30, 'cool'), cmd('off', 20, 'off'), cmd('panic', 99, 'off', true)], { hvac: { minOn: '5m', off: { mode: 'off' } } });
    const start = clock.now();
    runtime.onReading(reading(clock, 'hq/f1/t1', 'temperature', 30, 1));
    await advance(clock, runtime, start + 60_000);
    runtime.onReading(reading(clock, 'hq/f1/t1', 'temperature', 20, 2));
    await advance(clock, runtime, start + 120_000);
    expect(outcomes.map((o) => o.rule)).toEqual(['cool']);
    runtime.onReading(reading(clock, 'hq/f2/t2', 'temperature', 30, 3));
    await advance(clock, runtime, start + 180_000);
    runtime.onReading(reading(clock, 'hq/f2/t2', 'temperature', 99, 4));
    await advance(clock, runtime, start + 300_000);
    expect(outcomes.map((o) => [o.rule, o.kind === 'command' ? o.zone : '', o.timeMs - start])).toEqual([
      ['cool', 'f1', 0],
      ['cool', 'f2', 120_000],
      ['panic', 'f2', 180_000],
      ['off', 'f1', 300_000],
    ]);
  });

  it('runs a zone’s rules only for its readings, and unindexed conditions as written', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const rule = (name: string, all: unknown[]) => ({ name, kinds: ['co2'], conditions: { all: [...all, { fact: 'value', operator: 'greaterThan', value: 1000 }] }, event: { type: 'alert', params: { severity: 'info', message: name } } });
    const { runtime, firings } = runtimeWith(clock, [
      rule('f1-only', [{ fact: 'zone', operator: 'equal', value: 'f1' }]),
      rule('f1-or-f2', [{ fact: 'zone', operator: 'in', value: ['f1', 'f2'] }, { fact: 'site', operator: 'equal', value: 'hq' }]),
      rule('any-f2', [{ any: [{ fact: 'zone', operator: 'equal', value: 'f2' }] }]),
      rule('everywhere', []),
    ]);
    const sources = ['hq/f1/c1', 'hq/f2/c2', 'hq/f3/c3', 'lab/f1/c4', 'hq/f1/c1'];
    sources.forEach((source, i) => runtime.onReading(reading(clock, source, 'co2', 1200, i)));
    await runtime.idle();
    const fired = (id: string) => firings.filter(([r]) => r === id).map(([, rule]) => rule).sort();
    expect(fired('r0')).toEqual(['everywhere', 'f1-only', 'f1-or-f2']);
    expect(fired('r1')).toEqual(['any-f2', 'everywhere', 'f1-or-f2']);
    expect(fired('r2')).toEqual(['everywhere']);
    expect(fired('r3')).toEqual(['everywhere', 'f1-only']);
    expect(fired('r4')).toEqual(['everywhere', 'f1-only', 'f1-or-f2']);
  });
});

describe('windows', () => {
  it('agree with a loop over the samples (sum, avg, min, max, count, tallies, rate), with readings out of order, windows moving back, and the cap', async () => {
    const { SeriesStore } = await import('../../../gateway/rules/series.js');
    const windows = [600_000, 60_000, 5_000];
    const store = new SeriesStore();
    store.configure([
      ...windows.flatMap((withinMs) => [{ kind: 'co2' as const, scope: 'zone' as const, withinMs, minmax: true }]),
      { kind: 'co2', scope: 'zone', withinMs: 60_000, equals: 401.1 },
    ]);
    // The oracle: every sample kept as the store keeps them (in time order, dropped past the longest window or the cap).
    let kept: { t: number; v: number }[] = [];
    let seed = 7;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    let now = 0;
    for (let i = 0; i < 14_000; i++) {
      now += 10 + Math.floor(random() * 100);
      // A zone's devices interleave: some readings come a little late.
      const t = random() < 0.2 ? now - Math.floor(random() * (random() < 0.2 ? 9000 : 3000)) : now;
      const v = 400 + (i % 97) * 1.1 + (random() < 0.1 ? 0.1 : 0);
      store.record({ kind: 'co2', site: 's', zone: 'z', source: 's/z/d', timeMs: t, numeric: v } as never, now);
      let at = kept.length;
      while (at > 0 && kept[at - 1]!.t > t) at--;
      kept.splice(at, 0, { t, v });
      const cutoff = Math.max(now, t) - 600_000;
      let drop = 0;
      while (drop < kept.length - 1 && kept[drop]!.t < cutoff) drop++;
      kept = kept.slice(Math.max(drop, kept.length - 10_000));
      if (i % 37 !== 0 && i < 13_900) continue;
      // Now and then a run reads the windows at an earlier time (a wake-up due before the last reading).
      const readAt = i % 5 === 0 ? now - 2000 : now;
      for (const withinMs of windows) {
        const from = readAt - withinMs;
        const inWindow = kept.filter((s) => s.t >= from).map((s) => s.v);
        let sum = 0;
        for (const v of inWindow) sum += v;
        const got = (agg: string) => store.aggregate('co2', 'zone', 's/z', withinMs, from, agg);
        expect(got('count')).toBe(inWindow.length);
        expect(got('sum')).toBeCloseTo(sum, 6);
        if (inWindow.length <= 64) expect(got('sum')).toBe(sum);
        expect(got('avg')).toBeCloseTo(sum / inWindow.length, 9);
        expect(got('min')).toBe(Math.min(...inWindow));
        expect(got('max')).toBe(Math.max(...inWindow));
        expect(store.count('co2', 'zone', 's/z', withinMs, from, 401.1)).toBe(inWindow.filter((v) => v === 401.1).length);
        const span = inWindow.length > 0 ? kept[kept.length - 1]!.t - kept.find((s) => s.t >= from)!.t : 0;
        const rate = store.rate('co2', 'zone', 's/z', withinMs, from, 60_000, 1);
        if (span < 1) expect(rate).toBeUndefined();
        else expect(rate).toBeCloseTo(((kept[kept.length - 1]!.v - kept.find((s) => s.t >= from)!.v) / span) * 60_000, 9);
      }
    }
    expect(kept.length).toBeGreaterThan(64);
  });
});

describe('the rules backlog', () => {
  it('is bounded: past it, readings are recorded but not ruled, and it is counted', async () => {
    const { RulesRuntime, MAX_RULES_BACKLOG } = await import('../../../gateway/rules/runtime.js');
    const { ManualClock } = await import('../../../gateway/core/manual-clock.js');
    const { pino } = await import('pino');
    const clock = new ManualClock(Date.parse('2026-11-24T10:00:00Z'));
    let overloaded = 0;
    let ruled = 0;
    const runtime = new RulesRuntime({ clock, log: pino({ level: 'silent' }), onOutcome: () => undefined, observer: { overloaded: () => void overloaded++, ran: () => void ruled++ } });
    const always = { name: 'always', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: -1000 }] }, event: { type: 'alert', params: { severity: 'info', message: 'x' } }, file: 'x', watches: [], windows: [] };
    runtime.use({ rules: [always as never], actuators: {} });
    const total = MAX_RULES_BACKLOG + 500;
    for (let i = 0; i < total; i++) {
      runtime.onReading({ id: `r${i}`, kind: 'temperature', site: 's', zone: 'z', device: 'd', source: 's/z/d', value: 20, numeric: 20, timeMs: clock.now() } as never);
    }
    expect(overloaded).toBeGreaterThanOrEqual(500);
    expect(runtime.state.zoneLatest('s', 'z', 'temperature')?.reading.id).toBe(`r${total - 1}`);
    await runtime.idle();
    expect(ruled).toBe(total - overloaded);
  });
});
