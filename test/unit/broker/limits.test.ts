import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameScanner, LoginBackoff, TokenBucket, topicProblem } from '../../../gateway/broker/limits.js';
import { connectPacket, publishPacket, varint } from '../../helpers/raw-mqtt.js';

describe('TokenBucket', () => {
  it('lets a burst through at once, then spaces publishes at the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect(bucket.reserve()).toBeCloseTo(100);
    expect(bucket.reserve()).toBeCloseTo(200);
    now = 1000; // 1 s refills 10 tokens, of which 2 pay the debt; the burst caps the rest at 3
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0, 100]);
  });

  it('never lets more than burst + rate × t through in t (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100 }), fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }), (rate, burst, gaps) => {
        let now = 0;
        const bucket = new TokenBucket(rate, burst, () => now);
        let immediate = 0;
        for (const gap of gaps) {
          now += gap;
          if (bucket.reserve() === 0) immediate++;
        }
        expect(immediate).toBeLessThanOrEqual(burst + (rate * now) / 1000 + 1e-9);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('LoginBackoff', () => {
  it('locks a key out after N failures, doubling per further failure up to the cap, and forgets it on success', () => {
    let now = 0;
    const b = new LoginBackoff(3, 5000, () => now);
    b.failed('k');
    b.failed('k');
    expect(b.lockedFor('k')).toBe(0);
    b.failed('k');
    expect(b.lockedFor('k')).toBe(1000);
    now = 1000;
    expect(b.lockedFor('k')).toBe(0);
    b.failed('k');
    expect(b.lockedFor('k')).toBe(2000);
    now = 3000;
    for (let i = 0; i < 10; i++) b.failed('k');
    expect(b.lockedFor('k')).toBe(5000);
    expect(b.lockedFor('other')).toBe(0);
    b.succeeded('k');
    expect(b.lockedFor('k')).toBe(0);
  });
});

describe('topicProblem', () => {
  const limits = { maxLength: 20, maxLevels: 3 };
  it('measures length in UTF-8 bytes and depth in levels', () => {
    expect(topicProblem('a/b/c', limits)).toBeUndefined();
    expect(topicProblem('a/b/c/d', limits)?.reason).toBe('topic_too_deep');
    expect(topicProblem('é'.repeat(11), limits)?.reason).toBe('topic_too_long');
    expect(topicProblem('é'.repeat(10), limits)).toBeUndefined();
  });
});

describe('FrameScanner', () => {
  const packet = fc.oneof(
    fc.tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.uint8Array({ maxLength: 3000 }), fc.constantFrom<0 | 1>(0, 1)).map(([t, p, q]) => publishPacket(t, Buffer.from(p), q)),
    fc.string({ maxLength: 23 }).map((id) => connectPacket(id)),
    fc.constant(Buffer.from([0xc0, 0x00])), // PINGREQ
  );
  const cuts = fc.array(fc.nat(), { maxLength: 20 });

  function feed(scanner: FrameScanner, bytes: Buffer, at: number[]): string | undefined {
    const points = [...new Set(at.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    let from = 0;
    for (const p of [...points, bytes.length]) {
      const problem = scanner.push(bytes.subarray(from, p));
      if (problem) return problem;
      from = p;
    }
    return undefined;
  }

  it('passes any stream of packets within the limit, however it is split (property)', () => {
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 20 }), cuts, (packets, at) => {
        expect(feed(new FrameScanner(4000), Buffer.concat(packets), at)).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });

  it('reports the first packet over the limit from its header alone, however the stream is split (property)', () => {
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 10 }), fc.integer({ min: 4001, max: 268_435_455 }), cuts, (before, length, at) => {
        const header = Buffer.concat([Buffer.from([0x30]), varint(length)]);
        expect(feed(new FrameScanner(4000), Buffer.concat([...before, header]), at)).toBe(`packet of ${length} bytes, the limit is 4000 (MAX_PACKET_BYTES)`);
      }),
      { numRuns: 3000 },
    );
  });

  it('reports a remaining length longer than four bytes as malformed', () => {
    expect(new FrameScanner(4000).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toMatch(/^malformed/);
  });
});
