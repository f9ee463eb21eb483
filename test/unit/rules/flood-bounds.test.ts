/**
 * A flood of made-up device ids (one credential that may publish for any device, or many
 * credentials): each reading is from a device, zone or site never seen before. What the rules
 * remember per device, zone and key stays within its bound; a fleet below the bound keeps every
 * device, and the rules keep working for the devices that speak after the flood.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { KINDS, type BuiltinKind as Kind } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { Outcome } from '../../../gateway/rules/actions.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { RulesRuntime } from '../../../gateway/rules/runtime.js';
import { ZoneState } from '../../../gateway/rules/state.js';

let n = 0;
function reading(clock: ManualClock, source: string, kind: Kind, value: number | boolean): ReadingEvent {
  const [site = '', zone = '', device = ''] = source.split('/');
  const timeMs = clock.now();
  const time = new Date(timeMs).toISOString();
  return { id: `r${++n}`, type: `sensor.${kind}`, source, time, receivedAt: time, seq: n, site, zone, device, kind, value, numeric: KINDS[kind].toNumber(value), timeMs, clientId: undefined };
}

/** A window, a held-for and absences at device and zone scope: every per-key memory the rules keep. */
const RULES = [
  { name: 'power-avg', kinds: ['power'], conditions: { all: [{ fact: 'window', params: { agg: 'avg', within: '5m', scope: 'device' }, operator: 'greaterThan', value: 5000 }] }, event: { type: 'alert', params: { severity: 'info', message: 'high' } } },
  { name: 'zone-power', kinds: ['power'], conditions: { all: [{ fact: 'window', params: { agg: 'sum', within: '5m', scope: 'zone' }, operator: 'greaterThan', value: 1e9 }] }, event: { type: 'alert', params: { severity: 'info', message: 'zone high' } } },
  { name: 'co2-held', kinds: ['co2'], conditions: { all: [{ fact: 'heldFor', params: { operator: 'greaterThan', value: 1000, for: '5m' }, operator: 'equal', value: true }] }, event: { type: 'alert', params: { severity: 'warning', message: '{{device}} stuffy' } } },
  { name: 'silent', kinds: ['battery'], conditions: { all: [{ fact: 'absent', params: { scope: 'device', for: '10m' }, operator: 'equal', value: true }] }, event: { type: 'alert', params: { severity: 'warning', message: '{{device}} silent' } } },
];

function runtimeWith(clock: ManualClock, bounds?: { devices: number; zones: number }) {
  const outcomes: Outcome[] = [];
  const evicted: string[] = [];
  const runtime = new RulesRuntime({ clock, log: pino({ level: 'silent' }), onOutcome: (o) => outcomes.push(o), bounds, observer: { forgot: (what) => void evicted.push(what) } });
  const { rules, actuators } = parsePack('flood.json', JSON.stringify({ rules: RULES }));
  runtime.use({ rules, actuators });
  return { runtime, outcomes, evicted };
}

/** Every per-device, per-zone and per-key structure of the rules, by its size. */
function sizes(runtime: RulesRuntime) {
  return { devices: runtime.state.deviceCount, zones: runtime.state.zoneCount, series: runtime.series.seriesCount, watched: runtime.watches.trackCount, timers: runtime.wakeups.size };
}

/** One reading of each kind from `count` devices never seen before, each in a zone of its own. */
async function flood(clock: ManualClock, runtime: RulesRuntime, count: number, prefix: string) {
  for (let i = 0; i < count; i++) {
    const source = `hq/${prefix}z${i}/${prefix}d${i}`;
    runtime.onReading(reading(clock, source, 'power', 10));
    runtime.onReading(reading(clock, source, 'co2', 1500));
    runtime.onReading(reading(clock, source, 'battery', 90));
  }
  await runtime.idle();
}

describe('the rules under a flood of made-up device ids', () => {
  it('remember at most their bound of devices, zones, series, watched keys and timers', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const { runtime, evicted } = runtimeWith(clock, { devices: 1000, zones: 1000 });
    await flood(clock, runtime, 20_000, 'x');
    const s = sizes(runtime);
    expect(s.devices).toBeLessThanOrEqual(1000);
    expect(s.zones).toBeLessThanOrEqual(1000);
    // A device-scoped and a zone-scoped series of power.
    expect(s.series).toBeLessThanOrEqual(2 * 1000);
    // A held-for and an absence per device.
    expect(s.watched).toBeLessThanOrEqual(2 * 1000);
    // A forgotten key's timer goes with it (a cancelled one would wait for its deadline).
    expect(s.timers).toBeLessThanOrEqual(2 * 1000);
    expect(clock.pendingTimers).toBeLessThanOrEqual(2 * 1000);
    expect(new Set(evicted)).toEqual(new Set(['device', 'zone', 'series', 'watch']));
  });

  it('keep working after the flood: a device that speaks afterwards is watched and ruled as before', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const { runtime, outcomes } = runtimeWith(clock, { devices: 1000, zones: 1000 });
    await flood(clock, runtime, 5000, 'x');
    runtime.onReading(reading(clock, 'hq/f1/b1', 'battery', 90));
    await runtime.idle();
    const start = clock.now();
    while (clock.fireNext(start + 11 * 60_000)) await runtime.idle();
    const silent = outcomes.filter((o) => o.kind === 'alert' && o.cloudEvent.data.message === 'b1 silent');
    expect(silent).toHaveLength(1);
  });

  it('forget nothing of a fleet below the bound (the defaults: 100,000 devices and zones)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const { runtime, outcomes, evicted } = runtimeWith(clock);
    await flood(clock, runtime, 5000, 'x');
    expect(sizes(runtime)).toMatchObject({ devices: 5000, zones: 5000, series: 10_000, watched: 10_000 });
    expect(evicted).toEqual([]);
    const start = clock.now();
    while (clock.fireNext(start + 11 * 60_000)) await runtime.idle();
    // Every device held its co2 for 5 min and then fell silent for 10: each one is alerted.
    expect(outcomes.filter((o) => o.kind === 'alert' && o.cloudEvent.data.message.endsWith(' silent'))).toHaveLength(5000);
    expect(outcomes.filter((o) => o.kind === 'alert' && o.cloudEvent.data.message.endsWith(' stuffy'))).toHaveLength(5000);
  });

  it('keep a site\'s tallies right as its zones are forgotten: anyInSite, the newest, the zones', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const state = new ZoneState(undefined, { devices: 10, zones: 2 });
    state.update(reading(clock, 'hq/a/m1', 'motion', true));
    clock.advanceBy(1000);
    state.update(reading(clock, 'hq/b/m2', 'motion', false));
    expect(state.anyInSite('hq', 'motion')).toBe(true);
    expect(state.siteNewest('hq', 'motion')?.device).toBe('m2');
    // A third zone: the first seen (a, the only one with motion) is forgotten.
    clock.advanceBy(-5000);
    state.update(reading(clock, 'hq/c/m3', 'motion', false));
    expect(state.zonesOf('hq')).toEqual(['b', 'c']);
    expect(state.anyInSite('hq', 'motion')).toBe(false);
    expect(state.siteLatest('hq', 'motion').map((l) => l.device)).toEqual(['m2', 'm3']);
    // b goes too: the newest is found again among what is left.
    clock.advanceBy(1000);
    state.update(reading(clock, 'annex/d/m4', 'motion', true));
    expect(state.siteNewest('hq', 'motion')?.device).toBe('m3');
    expect(state.zonesOf('hq')).toEqual(['c']);
    // A device of a forgotten zone that speaks again is placed in it afresh, and counts again.
    state.update(reading(clock, 'hq/a/m1', 'motion', true));
    expect(state.zonesOf('hq')).toEqual(['a']);
    expect(state.anyInSite('hq', 'motion')).toBe(true);
    expect(state.zoneLatestOf('hq/b/m2', 'hq', 'b', 'motion')).toBeUndefined();
    expect(state.zoneCount).toBe(2);
  });

  it('bound the defaults: 120,000 made-up ids leave at most 100,000 devices and zones', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const { runtime } = runtimeWith(clock);
    for (let i = 0; i < 120_000; i++) runtime.onReading(reading(clock, `s${i % 7}/z${i}/d${i}`, 'power', 10));
    await runtime.idle();
    const s = sizes(runtime);
    expect(s.devices).toBe(100_000);
    expect(s.zones).toBe(100_000);
    expect(s.series).toBe(200_000);
  }, 60_000);
});
