/** ZoneState keeps site-wide answers as zones update: they must be what a walk over the zones says. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { truthy } from '../../../gateway/rules/operators.js';
import { ZoneState } from '../../../gateway/rules/state.js';

describe('ZoneState', () => {
  it('answers anyInSite and the site’s newest as a walk over its zones does, whatever order readings come in', () => {
    const update = fc.record({
      site: fc.constantFrom('a', 'b'),
      zone: fc.constantFrom('z1', 'z2', 'z3', 'z4'),
      device: fc.constantFrom('d1', 'd2', 'd3'),
      kind: fc.constantFrom('smoke', 'temperature'),
      value: fc.oneof(fc.boolean(), fc.integer({ min: -2, max: 3 })),
      timeMs: fc.integer({ min: 0, max: 20 }),
      judged: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(update, { maxLength: 60 }), (updates) => {
        const state = new ZoneState();
        let n = 0;
        for (const u of updates) {
          const source = `${u.site}/${u.zone}/${u.device}`;
          const numeric = typeof u.value === 'boolean' ? Number(u.value) : u.value;
          const r = { id: `r${n++}`, source, site: u.site, zone: u.zone, device: u.device, kind: u.kind, value: u.value, numeric, timeMs: u.timeMs, judgedMs: u.judged } as ReadingEvent;
          state.update(r);
          for (const site of ['a', 'b']) {
            for (const kind of ['smoke', 'temperature'] as const) {
              const all = state.siteLatest(site, kind);
              expect(state.anyInSite(site, kind)).toBe(all.some((l) => truthy(l.value) === true || l.numeric >= 1));
              const newest = all.reduce<(typeof all)[number] | undefined>((a, l) => (!a || l.timeMs > a.timeMs ? l : a), undefined);
              expect(state.siteNewest(site, kind)?.reading.id).toBe(newest?.reading.id);
            }
          }
          expect(state.zoneLatestOf(source, u.site, u.zone, u.kind)?.reading.id).toBe(r.id);
          expect(state.deviceLatest(source, u.kind)?.reading.id).toBe(r.id);
        }
      }),
      { numRuns: 500 },
    );
  });
});

const reading = (n: number, site: string, zone: string, device: string, kind: 'smoke' | 'temperature', value: boolean | number, timeMs: number): ReadingEvent =>
  ({ id: `r${n}`, source: `${site}/${zone}/${device}`, site, zone, device, kind, value, numeric: typeof value === 'boolean' ? Number(value) : value, timeMs }) as ReadingEvent;

describe('ZoneState.forgetDevice (an operator cleared the alarm of a device removed)', () => {
  it('no longer counts the device in its zone or site, until it speaks again', () => {
    const state = new ZoneState();
    state.update(reading(1, 'hq', 'k1', 'sd6', 'smoke', false, 1));
    state.update(reading(2, 'hq', 'k1', 'sd5', 'smoke', true, 2));
    state.update(reading(3, 'hq', 'k1', 'sd5', 'temperature', 19, 3));
    expect(state.anyInSite('hq', 'smoke')).toBe(true);
    expect(state.forgetDevice('hq', 'k1', 'sd5').sort()).toEqual(['smoke', 'temperature']);
    expect(state.anyInSite('hq', 'smoke')).toBe(false);
    expect(state.deviceLatest('hq/k1/sd5', 'smoke')).toBeUndefined();
    // The zone falls back to its other detector; no other device said a temperature.
    expect(state.zoneLatest('hq', 'k1', 'smoke')?.reading.id).toBe('r1');
    expect(state.siteNewest('hq', 'smoke')?.reading.id).toBe('r1');
    expect(state.zoneLatest('hq', 'k1', 'temperature')).toBeUndefined();
    expect(state.siteNewest('hq', 'temperature')).toBeUndefined();
    expect(state.latestReadings().map((r) => r.id)).toEqual(['r1']);
    // Forgetting again, or a device never heard: nothing changes.
    expect(state.forgetDevice('hq', 'k1', 'sd5')).toEqual([]);
    expect(state.forgetDevice('nowhere', 'z', 'd')).toEqual([]);
    // It speaks again: counted as usual.
    state.update(reading(4, 'hq', 'k1', 'sd5', 'smoke', true, 4));
    expect(state.anyInSite('hq', 'smoke')).toBe(true);
    expect(state.zoneLatest('hq', 'k1', 'smoke')?.reading.id).toBe('r4');
  });

  it('keeps the site-wide answers what a walk over the zones says, with forgettings and the bounds forgetting devices and zones', () => {
    const op = fc.oneof(
      fc.record({
        forget: fc.constant(false),
        site: fc.constantFrom('a', 'b'),
        zone: fc.constantFrom('z1', 'z2', 'z3'),
        device: fc.constantFrom('d1', 'd2', 'd3'),
        kind: fc.constantFrom('smoke' as const, 'temperature' as const),
        value: fc.oneof(fc.boolean(), fc.integer({ min: -2, max: 3 })),
        timeMs: fc.integer({ min: 0, max: 20 }),
      }),
      fc.record({ forget: fc.constant(true), site: fc.constantFrom('a', 'b'), zone: fc.constantFrom('z1', 'z2', 'z3'), device: fc.constantFrom('d1', 'd2', 'd3') }),
    );
    const bounds = fc.constantFrom({ devices: 100, zones: 100 }, { devices: 4, zones: 3 }, { devices: 2, zones: 100 });
    fc.assert(
      fc.property(bounds, fc.array(op, { maxLength: 60 }), (b, ops) => {
        const state = new ZoneState(undefined, b);
        let n = 0;
        for (const o of ops) {
          if (!o.forget) {
            state.update(reading(n++, o.site, o.zone, o.device, o.kind, o.value, o.timeMs));
            continue;
          }
          const kinds = ['smoke', 'temperature'] as const;
          const before = kinds.map((kind) => state.zoneLatest(o.site, o.zone, kind)?.reading);
          state.forgetDevice(o.site, o.zone, o.device);
          kinds.forEach((kind, i) => {
            expect(state.deviceLatest(`${o.site}/${o.zone}/${o.device}`, kind)).toBeUndefined();
            const zone = state.zoneLatest(o.site, o.zone, kind);
            if (before[i]?.device !== o.device) return expect(zone?.reading).toBe(before[i]);
            // It held the zone's latest: now the newest of the zone's other devices remembered, if any.
            const others = ['d1', 'd2', 'd3'].flatMap((d) => state.deviceLatest(`${o.site}/${o.zone}/${d}`, kind) ?? []);
            expect(zone?.timeMs).toBe(others.length > 0 ? Math.max(...others.map((l) => l.timeMs)) : undefined);
          });
          for (const site of ['a', 'b']) {
            for (const kind of ['smoke', 'temperature'] as const) {
              const all = state.siteLatest(site, kind);
              expect(state.anyInSite(site, kind)).toBe(all.some((l) => truthy(l.value) === true || l.numeric >= 1));
              const newest = all.reduce<(typeof all)[number] | undefined>((x, l) => (!x || l.timeMs > x.timeMs ? l : x), undefined);
              expect(state.siteNewest(site, kind)?.timeMs).toBe(newest?.timeMs);
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
