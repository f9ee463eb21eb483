/** The rules engine alone: which rules a reading runs through, what fires, in which order. */
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { kindSpec, type Kind, type ReadingValue } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { RulesEngine, type RulesEngineOptions } from '../../../gateway/rules/engine.js';
import type { FactContext } from '../../../gateway/rules/facts.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { SeriesStore } from '../../../gateway/rules/series.js';
import { ZoneState } from '../../../gateway/rules/state.js';
import { Watches } from '../../../gateway/rules/watches.js';

const START = Date.parse('2026-11-27T10:00:00.000Z');

let n = 0;
function reading(source: string, kind: Kind, value: ReadingValue, timeMs = START): ReadingEvent {
  const [site = '', zone = '', device = ''] = source.split('/');
  const time = new Date(timeMs).toISOString();
  return { id: `r${++n}`, type: `sensor.${kind}`, source, time, receivedAt: time, seq: undefined, site, zone, device, kind, value, numeric: kindSpec(kind)!.toNumber(value), timeMs, clientId: undefined };
}

const command = (actuator: string, data: object) => ({ type: 'command', params: { actuator, data } });
const hot = (name: string, extra: object[] = [], more: object = {}) => ({
  name,
  kinds: ['temperature'],
  conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }, ...extra] },
  event: command('hvac', { mode: 'cool', by: name }),
  ...more,
});

function engineOf(rules: object[], options?: RulesEngineOptions): RulesEngine {
  const { rules: defs, actuators } = parsePack('test.json', JSON.stringify({ rules }));
  return new RulesEngine({ rules: defs, actuators }, options);
}

/** What the rules see for a reading: the zone state with it in, nothing commanded yet. */
function contextOf(r: ReadingEvent, o: { state?: ZoneState; watches?: Watches; now?: number } = {}): FactContext {
  const state = o.state ?? new ZoneState();
  state.update(r);
  return { reading: r, now: o.now ?? r.timeMs, state, series: new SeriesStore(), watches: o.watches ?? new Watches(() => undefined), actuator: () => undefined };
}

const fired = async (engine: RulesEngine, ctx: FactContext): Promise<string[]> => (await engine.evaluate(ctx)).map((f) => f.rule.name);
/** The rules that fired, whatever their order (equal priorities: the engine's order). */
const firedSet = async (engine: RulesEngine, ctx: FactContext): Promise<string[]> => (await fired(engine, ctx)).sort();

describe('RulesEngine', () => {
  it('runs a reading only through the rules of its kind (a rule without a kind runs for every kind)', async () => {
    const engine = engineOf([
      hot('cool'),
      { name: 'damp', kinds: ['humidity'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] }, event: command('dehumidifier', { on: true }) },
      { name: 'any-kind', conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] }, event: command('log', { any: true }) },
    ]);
    expect(engine.rulesFor('temperature')).toBe(2);
    expect(engine.rulesFor('humidity')).toBe(2);
    expect(engine.rulesFor('co2')).toBe(1);
    expect(engine.rulesFor('motion')).toBe(1);
    expect(await firedSet(engine, contextOf(reading('hq/f1/t-1', 'temperature', 30)))).toEqual(['any-kind', 'cool']);
    expect(await firedSet(engine, contextOf(reading('hq/f1/h-1', 'humidity', 30)))).toEqual(['any-kind', 'damp']);
    expect(await fired(engine, contextOf(reading('hq/f1/c-1', 'co2', 30)))).toEqual(['any-kind']);
  });

  it('infers a rule’s kind from its kind condition', async () => {
    const engine = engineOf([{ name: 'smoke', conditions: { all: [{ fact: 'kind', operator: 'equal', value: 'smoke' }, { fact: 'value', operator: 'equal', value: true }] }, event: command('siren', { on: true }) }]);
    expect(engine.rulesFor('smoke')).toBe(1);
    expect(engine.rulesFor('temperature')).toBe(0);
    expect(await fired(engine, contextOf(reading('hq/f1/s-1', 'smoke', true)))).toEqual(['smoke']);
  });

  it('runs a rule limited to sites, zones or devices only for readings from them', async () => {
    const engine = engineOf([
      hot('f1-only', [{ fact: 'zone', operator: 'equal', value: 'f1' }]),
      hot('f1-or-f2', [{ fact: 'zone', operator: 'in', value: ['f1', 'f2'] }]),
      hot('lab-site', [{ fact: 'site', operator: 'equal', value: 'lab' }]),
      hot('one-device', [{ fact: 'device', operator: 'equal', value: 't-9' }]),
      hot('everywhere'),
    ]);
    expect(await firedSet(engine, contextOf(reading('hq/f1/t-1', 'temperature', 30)))).toEqual(['everywhere', 'f1-only', 'f1-or-f2']);
    expect(await firedSet(engine, contextOf(reading('hq/f2/t-1', 'temperature', 30)))).toEqual(['everywhere', 'f1-or-f2']);
    expect(await firedSet(engine, contextOf(reading('lab/f3/t-9', 'temperature', 30)))).toEqual(['everywhere', 'lab-site', 'one-device']);
    // Asked again: the route a device got is remembered, and still right.
    expect(await firedSet(engine, contextOf(reading('hq/f2/t-1', 'temperature', 31)))).toEqual(['everywhere', 'f1-or-f2']);
  });

  it('starts its cache of routes afresh when it is full, says so, and still routes every reading right', async () => {
    const resets: number[] = [];
    const engine = engineOf([hot('f1-only', [{ fact: 'zone', operator: 'equal', value: 'f1' }])], { maxRoutes: 3, onRoutesReset: (routes) => void resets.push(routes) });
    for (const device of ['t-1', 't-2', 't-3', 't-1']) expect(await fired(engine, contextOf(reading(`hq/f1/${device}`, 'temperature', 30)))).toEqual(['f1-only']);
    // Three devices, one asked twice: all cached, nothing started afresh.
    expect(resets).toEqual([]);
    // A fourth device finds the cache full: it is started afresh, with this device in it.
    expect(await fired(engine, contextOf(reading('hq/f2/t-4', 'temperature', 30)))).toEqual([]);
    expect(resets).toEqual([3]);
    expect(await fired(engine, contextOf(reading('hq/f1/t-1', 'temperature', 30)))).toEqual(['f1-only']);
    expect(await fired(engine, contextOf(reading('hq/f2/t-4', 'temperature', 30)))).toEqual([]);
    expect(resets).toEqual([3]);
  });

  it('gives firings highest priority first', async () => {
    const engine = engineOf([hot('low', [], { priority: 1 }), hot('high', [], { priority: 20 }), hot('middle', [], { priority: 5 })]);
    const firings = await engine.evaluate(contextOf(reading('hq/f1/t-1', 'temperature', 30)));
    expect(firings.map((f) => f.rule.name)).toEqual(['high', 'middle', 'low']);
    expect(firings[0]?.event).toEqual(command('hvac', { mode: 'cool', by: 'high' }));
  });

  it('selects no engine, and fires nothing, for a reading no rule can fire', async () => {
    const engine = engineOf([hot('cool'), { name: 'cold', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 18 }] }, event: command('hvac', { mode: 'heat' }) }]);
    const ctx = contextOf(reading('hq/f1/t-1', 'temperature', 21));
    expect(engine.select(ctx)).toBeUndefined();
    expect(await engine.evaluate(ctx)).toEqual([]);
    const hotCtx = contextOf(reading('hq/f1/t-1', 'temperature', 27));
    const selected = engine.select(hotCtx);
    expect([...(selected?.rules.keys() ?? [])]).toEqual(['cool']);
    expect((await engine.run(selected, hotCtx)).map((f) => f.rule.name)).toEqual(['cool']);
  });

  it('reads what the gateway knows of the building: armed zones, the latest value of another kind', async () => {
    const engine = engineOf([
      { name: 'intrusion', kinds: ['contact'], conditions: { all: [{ fact: 'value', operator: 'equal', value: true }, { fact: 'armed', operator: 'equal', value: true }] }, event: { type: 'alert', params: { severity: 'critical', message: '{{device}} opened' } } },
      hot('cool-if-occupied', [{ fact: 'latest', params: { kind: 'occupancy', default: false }, operator: 'equal', value: true }]),
    ]);
    const state = new ZoneState();
    expect(await fired(engine, contextOf(reading('hq/f1/door-1', 'contact', true), { state }))).toEqual([]);
    await state.setArmed('hq', 'f1', true);
    expect(await fired(engine, contextOf(reading('hq/f1/door-1', 'contact', true), { state }))).toEqual(['intrusion']);
    expect(await fired(engine, contextOf(reading('hq/f2/door-2', 'contact', true), { state }))).toEqual([]);

    expect(await fired(engine, contextOf(reading('hq/f1/t-1', 'temperature', 30), { state }))).toEqual([]);
    state.update(reading('hq/f1/o-1', 'occupancy', true));
    expect(await fired(engine, contextOf(reading('hq/f1/t-1', 'temperature', 30), { state }))).toEqual(['cool-if-occupied']);
  });

  it('still decides every rule when a reading has more rules than a precheck mask holds', async () => {
    const rules = Array.from({ length: 40 }, (_, i) => ({
      name: `above-${i}`,
      kinds: ['temperature'],
      priority: 100 - i,
      conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: i }] },
      event: command(`a${i}`, { on: true }),
    }));
    const engine = engineOf(rules);
    expect(await fired(engine, contextOf(reading('hq/f1/t-1', 'temperature', 10.5)))).toEqual(Array.from({ length: 11 }, (_, i) => `above-${i}`));
    expect(await fired(engine, contextOf(reading('hq/f1/t-1', 'temperature', -1)))).toEqual([]);
  });

  it('wakes on a held-for watch only the rules that use it, once the time is up on the clock', async () => {
    const clock = new ManualClock(START);
    const engine = engineOf([
      {
        name: 'cool-held',
        kinds: ['temperature'],
        conditions: { all: [{ fact: 'heldFor', params: { operator: 'greaterThan', value: 26, for: '5m' }, operator: 'equal', value: true }] },
        event: command('hvac', { mode: 'cool' }),
      },
      hot('cool-now'),
      { name: 'bright', kinds: ['illuminance'], conditions: { all: [{ fact: 'hysteresis', params: { onAbove: 500, offBelow: 300 }, operator: 'equal', value: true }] }, event: command('blinds', { down: true }) },
    ]);
    const held = engine.watches.find((w) => w.type === 'held')!;
    const band = engine.watches.find((w) => w.type === 'hysteresis')!;
    expect(engine.wakes(held.id)).toBe(true);
    // A band changes state on readings only: no timer wakes it.
    expect(engine.wakes(band.id)).toBe(false);

    const due: number[] = [];
    const watches = new Watches((_spec, _key, at) => void (at !== undefined && due.push(at)));
    watches.configure(engine.watches, clock.now());
    const hotReading = reading('hq/f1/t-1', 'temperature', 28, clock.now());
    watches.record(hotReading);
    expect(due).toEqual([START + 300_000]);
    expect(await fired(engine, contextOf(hotReading, { watches, now: clock.now() }))).toEqual(['cool-now']);

    clock.advanceBy(299_999);
    expect((await engine.evaluateWatch(held.id, contextOf(hotReading, { watches, now: clock.now() }))).map((f) => f.rule.name)).toEqual([]);
    clock.advanceBy(1);
    expect((await engine.evaluateWatch(held.id, contextOf(hotReading, { watches, now: clock.now() }))).map((f) => f.rule.name)).toEqual(['cool-held']);
  });
});

describe('RulesEngine facts each compiled engine knows', () => {
  const humid = (value: number, state: ZoneState) => state.update(reading('hq/f1/h1', 'humidity', value));

  it('a fact read only as the value to compare with ({"fact": …} in "value") is known to the engine', async () => {
    const engine = engineOf([hot('muggy', [], { conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: { fact: 'latest', params: { kind: 'humidity' } } }] } })]);
    const state = new ZoneState();
    humid(20, state);
    expect(await fired(engine, contextOf(reading('hq/f1/t1', 'temperature', 25), { state }))).toEqual(['muggy']);
    humid(40, state);
    expect(await fired(engine, contextOf(reading('hq/f1/t1', 'temperature', 25), { state }))).toEqual([]);
  });

  it('a fact read only by an alarm’s clearWhen is known to the engine that judges it', async () => {
    const engine = engineOf([
      {
        name: 'hot-alarm',
        kinds: ['temperature'],
        conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] },
        event: { type: 'alert', params: { severity: 'warning', message: 'hot', clearWhen: { all: [{ fact: 'latest', params: { kind: 'humidity' }, operator: 'lessThan', value: 50 }] } } },
      },
    ]);
    const state = new ZoneState();
    humid(80, state);
    expect(await engine.clears('hot-alarm', contextOf(reading('hq/f1/t1', 'temperature', 30), { state }))).toBe(false);
    humid(30, state);
    expect(await engine.clears('hot-alarm', contextOf(reading('hq/f1/t1', 'temperature', 30), { state }))).toBe(true);
  });
});
