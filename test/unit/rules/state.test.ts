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
