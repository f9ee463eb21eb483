/**
 * Resends of readings that are still waiting for their commit group: a resend waits on the same
 * group; once the group is on disk every one of its readings is forgotten (one clean-up per
 * group), and a key taken meanwhile by a later publish is left alone.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { Resends } from '../../../gateway/ingest/resends.js';
import { deferred } from '../../helpers/deferred.js';
import { testMetrics } from '../../helpers/ports.js';

const packet = (messageId: number) => ({ topic: 'sensors/hq/f1/t1/temperature', payload: Buffer.from('{"value":1}'), qos: 1 as const, dup: true, messageId });

const settled = () => new Promise((r) => setImmediate(r));

describe('Resends', () => {
  it('a resend waits on its original group; once it is on disk, every reading of the group is forgotten', async () => {
    const resends = new Resends(testMetrics(new ManualClock(0)), pino({ level: 'silent' }));
    const first = deferred();
    const second = deferred();
    for (const key of ['a', 'b', 'c']) resends.awaiting(key, first.promise);
    resends.awaiting('d', second.promise);
    expect(resends.duplicate('dev', packet(1), 'b', 'b')).toBe(first.promise);
    expect(resends.duplicate('dev', packet(1), 'd', 'd')).toBe(second.promise);
    first.resolve();
    await settled();
    for (const key of ['a', 'b', 'c']) expect(resends.duplicate('dev', packet(1), key, key)).toBeUndefined();
    expect(resends.duplicate('dev', packet(1), 'd', 'd')).toBe(second.promise);
    second.resolve();
    await settled();
    expect(resends.duplicate('dev', packet(1), 'd', 'd')).toBeUndefined();
  });

  it('a key a later publish took while the first waited stays with the later one', async () => {
    const resends = new Resends(testMetrics(new ManualClock(0)), pino({ level: 'silent' }));
    const first = deferred();
    const later = deferred();
    resends.awaiting('dev/7', first.promise);
    resends.awaiting('x', first.promise);
    // Message id 7 reused by the client for another reading, in a later group.
    resends.awaiting('dev/7', later.promise);
    first.resolve();
    await settled();
    expect(resends.duplicate('dev', packet(7), 'dev/7', undefined)).toBe(later.promise);
    expect(resends.duplicate('dev', packet(7), 'x', undefined)).toBeUndefined();
  });
});
