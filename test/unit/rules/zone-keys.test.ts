import { describe, expect, it } from 'vitest';
import { MAX_ZONE_KEYS, zoneKey, zoneKeysCached } from '../../../gateway/rules/series.js';

describe('the zone keys the rules cache', () => {
  it('stay within their bound when one site has ever more zones (made-up zone names), and are always right', () => {
    for (let i = 0; i < MAX_ZONE_KEYS + 10; i++) expect(zoneKey('hq', `z${i}`)).toBe(`hq/z${i}`);
    expect(zoneKeysCached()).toBeLessThanOrEqual(MAX_ZONE_KEYS);
    expect(zoneKey('hq', 'z0')).toBe('hq/z0');
    expect(zoneKey('annex', 'z0')).toBe('annex/z0');
  });
});
