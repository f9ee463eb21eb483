import { validate, version } from 'uuid';
import { describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { derivedEventId, isDerivedEventId, newEventId } from '../../../gateway/core/ids.js';

describe('newEventId', () => {
  it('makes UUIDv7s carrying the time they were made, each different', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const before = Date.now();
      const id = newEventId();
      const after = Date.now();
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      // RFC 9562: the variant bits are 10.
      expect('89ab').toContain(id[19]);
      const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
      seen.add(id);
    }
    expect(seen.size).toBe(10_000);
  });

  it('writes times past 32 bits right (2026 and the far end of 48 bits)', () => {
    for (const ms of [Date.UTC(2026, 10, 28, 1, 2, 3, 4), 2 ** 48 - 1, 0]) {
      vi.spyOn(Date, 'now').mockReturnValue(ms);
      const id = newEventId();
      vi.restoreAllMocks();
      expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
    }
  });
});

describe('derivedEventId', () => {
  const digest = (text: string) => createHash('sha1').update(text).digest();

  it('makes a UUIDv7 of the given millisecond, the same for the same digest, told apart from random ones', () => {
    const ms = Date.UTC(2026, 10, 29, 16, 20, 0, 123);
    const id = derivedEventId(ms, digest('zigbee2mqtt/th\n{"temperature":19.5}temperature'));
    expect([validate(id), version(id)]).toEqual([true, 7]);
    expect('89ab').toContain(id[19]);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
    expect(derivedEventId(ms, digest('zigbee2mqtt/th\n{"temperature":19.5}temperature'))).toBe(id);
    expect(derivedEventId(ms, digest('zigbee2mqtt/th\n{"temperature":19.5}battery'))).not.toBe(id);
    expect(isDerivedEventId(id)).toBe(true);
    let random = 0;
    for (let i = 0; i < 4096; i++) if (isDerivedEventId(newEventId())) random++;
    // rand_a is 12 random bits in newEventId: about one in 4,096 looks derived.
    expect(random).toBeLessThan(8);
    expect(isDerivedEventId('t-101-17')).toBe(false);
  });
});
