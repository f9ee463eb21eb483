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

describe('a Gen2+ Shelly channel that is two components (switch:0 and light:0)', () => {
  const facts = new LearntFacts();
  facts.apply([{ what: 'shellyOutput', nativeId: 'd', channel: '0', component: 'light' }, { what: 'shellyOutput', nativeId: 'd', channel: '0', component: 'switch' }]);

  it('gives the light to a light, the switch to a switch, and with no preference the one reported last', () => {
    expect([facts.shellyOutput('d', '0', 'light'), facts.shellyOutput('d', '0', 'rgbw'), facts.shellyOutput('d', '0', 'switch'), facts.shellyOutput('d', '0')]).toEqual(['light', 'light', 'switch', 'switch']);
  });

  it('is kept with both, the latest last', () => {
    const kept = keptShelly(facts, 'd')!;
    expect(JSON.parse(kept.payload.toString())).toEqual({ 0: ['light', 'switch'] });
    const after = new LearntFacts();
    after.apply(keptFacts(kept.topic, kept.payload)!);
    expect([after.shellyOutput('d', '0', 'light'), after.shellyOutput('d', '0')]).toEqual(['light', 'switch']);
  });

  it('a channel of one component is that component whatever the command prefers', () => {
    const one = new LearntFacts();
    one.apply([{ what: 'shellyOutput', nativeId: 'e', channel: '0', component: 'rgbw' }]);
    expect([one.shellyOutput('e', '0', 'switch'), one.shellyOutput('e', '0', 'light'), one.shellyOutput('e', '1', 'switch')]).toEqual(['rgbw', 'rgbw', 'rgbw']);
  });
});

describe('a Gen1 colour light’s mode, as the gateway retains it', () => {
  it('is read back; a mode of another value is none', () => {
    const before = new LearntFacts();
    before.apply([{ what: 'shellyLightMode', nativeId: 'shellyrgbw2-a1', mode: 'white' }]);
    const kept = keptShelly(before, 'shellyrgbw2-a1')!;
    expect(JSON.parse(kept.payload.toString())).toEqual({ mode: 'white' });
    const after = new LearntFacts();
    after.apply(keptFacts(kept.topic, kept.payload)!);
    expect(after.shellyLightMode('shellyrgbw2-a1')).toBe('white');
    expect(keptFacts(`${KEPT_SHELLY_PREFIX}x`, Buffer.from('{"mode":"disco"}'))).toEqual([]);
  });

  it('one forgotten past 10,000 devices is told, for its retained message to go (kept-learning.ts)', () => {
    const facts = new LearntFacts();
    const forgotten: string[] = [];
    facts.shellyForgotten = (id) => forgotten.push(id);
    for (let i = 0; i <= 10_000; i++) facts.apply([{ what: 'shellyLightMode', nativeId: `shellyrgbw2-${i}`, mode: 'color' }]);
    expect(forgotten).toEqual(['shellyrgbw2-0']);
    expect(keptShelly(facts, 'shellyrgbw2-0')).toBeUndefined();
  });
});
