import { describe, expect, it } from 'vitest';
import { KEPT_SHELLY_PREFIX, keptFacts, keptShelly } from '../../../gateway/devices/kept-learning.js';
import { LearntFacts } from '../../../gateway/devices/learnt.js';

describe('a Gen2+ Shelly’s outputs, as the gateway retains them', () => {
  it('are read back as they were learnt', () => {
    const before = new LearntFacts();
    before.apply([{ what: 'shellyOutput', nativeId: 'shellypro2pm-a1', channel: '0', component: 'switch' }, { what: 'shellyOutput', nativeId: 'shellypro2pm-a1', channel: '1', component: 'light' }]);
    const kept = keptShelly(before, 'shellypro2pm-a1')!;
    expect(kept.topic).toBe(`${KEPT_SHELLY_PREFIX}shellypro2pm-a1`);
    const after = new LearntFacts();
    after.apply(keptFacts(kept.topic, kept.payload)!);
    expect([after.shellyOutput('shellypro2pm-a1', '0'), after.shellyOutput('shellypro2pm-a1', '1')]).toEqual(['switch', 'light']);
  });

  it('a damaged or foreign message teaches nothing', () => {
    expect(keptFacts('shellies/x/online', Buffer.from('true'))).toBeUndefined();
    expect(keptFacts(`${KEPT_SHELLY_PREFIX}x`, Buffer.from('{'))).toBeUndefined();
    expect(keptFacts(`${KEPT_SHELLY_PREFIX}x`, Buffer.from('[]'))).toBeUndefined();
    expect(keptFacts(`${KEPT_SHELLY_PREFIX}x`, Buffer.from('{"0":"fan","a":"switch"}'))).toEqual([]);
    expect(keptShelly(new LearntFacts(), 'unknown')).toBeUndefined();
  });
});
