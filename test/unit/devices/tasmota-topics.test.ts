/** The FullTopics Tasmota devices announced, kept as hints for their dead letters: the newest templates, not the first ones. */
import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../../gateway/core/bounded-map.js';
import { AnnouncedFullTopics, type AnnouncedTopic } from '../../../gateway/devices/tasmota-topics.js';

const prefixes = { cmnd: 'cmnd', stat: 'stat', tele: 'tele' };

describe('AnnouncedFullTopics', () => {
  it('past its 16 templates, forgets the one announced longest ago: made-up announcements cannot keep a real device’s hint out', () => {
    const announced = new AnnouncedFullTopics(new BoundedMap<string, AnnouncedTopic>(1000));
    // Sixteen made-up templates first, then a real device's.
    for (let i = 0; i < 16; i++) announced.set(`fake${i}`, { fullTopic: `junk${i}/%topic%/%prefix%/`, prefixes });
    announced.set('kitchen_plug', { fullTopic: 'home/%topic%/%prefix%/', prefixes });
    expect(announced.find('home/kitchen_plug/tele/STATE')).toEqual({ nativeId: 'kitchen_plug', fullTopic: 'home/%topic%/%prefix%/' });
    // The oldest made-up one is gone; a later one is still read.
    expect(announced.find('junk0/fake0/tele/STATE')).toBeUndefined();
    expect(announced.find('junk15/fake15/tele/STATE')).toEqual({ nativeId: 'fake15', fullTopic: 'junk15/%topic%/%prefix%/' });
  });
});
