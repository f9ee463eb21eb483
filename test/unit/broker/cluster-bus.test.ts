/**
 * The cluster's message bus (mqemitter-redis through gateway/broker/queue.ts) against a real
 * redis-server: a long queue from another node, released at once, arrives whole and in order
 * without running out of stack (the bound of queue.ts applies to it too).
 */
import type mqemitter from 'mqemitter';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterBus, type ClusterBus } from '../../../gateway/broker/cluster-bus.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
let redis: TestRedis;
const buses: ClusterBus[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const b of buses) await b.close();
  await redis.stop();
});

const ready = (bus: ClusterBus): Promise<void> => waitFor(() => bus.sessions.status === 'ready', 'Redis connection').then(() => undefined);

describe('the cluster bus under a long queue released at once', () => {
  it('delivers what another node published, all of it and in order, past its concurrency and without a stack overflow', async () => {
    const a = createClusterBus(redis.url, 'a', log);
    const b = createClusterBus(redis.url, 'b', log);
    buses.push(a, b);
    await Promise.all([ready(a), ready(b)]);
    const total = 100_000;
    const got: number[] = [];
    const held: (() => void)[] = [];
    let release = false;
    const all = new Promise<void>((resolve) =>
      new Promise<void>((subscribed) =>
        a.mq.on(
          't/#',
          (m: mqemitter.Message, done: () => void) => {
            got.push(m['n'] as number);
            if (got.length === total) resolve();
            // The first 1,000 (the bus' concurrency) wait, a slow subscriber; every later one completes at once.
            if (!release) held.push(done);
            else done();
          },
          () => subscribed(),
        ),
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    for (let n = 0; n < total; n++) b.mq.emit({ topic: 't/x', n });
    // Everything has crossed Redis and queues behind the 1,000 deliveries in progress.
    await waitFor(() => (a.mq as unknown as { length: number }).length === total - 1000, 'every message queued behind the held deliveries', 30_000);
    expect(got.length).toBe(1000);
    release = true;
    for (const done of held.splice(0)) done();
    await all;
    expect(got.length).toBe(total);
    expect(got.every((n, i) => n === i)).toBe(true);
  });
});

describe('the cluster bus with Redis away', () => {
  it('delivers to this node’s subscribers only, and counts each such message', async () => {
    const own = await startRedis();
    let counted = 0;
    const bus = createClusterBus(own.url, 'c', log, undefined, () => counted++);
    try {
      await ready(bus);
      const got: string[] = [];
      await new Promise<void>((subscribed) => bus.mq.on('t/#', (m: mqemitter.Message, done: () => void) => void (got.push(m['v'] as string), done()), () => subscribed()));
      bus.mq.emit({ topic: 't/x', v: 'through redis' });
      await waitFor(() => got.length === 1, 'the message through Redis');
      expect(counted).toBe(0);
      await own.stop();
      await waitFor(() => bus.sessions.status !== 'ready', 'the connection noticed Redis gone');
      bus.mq.emit({ topic: 't/x', v: 'local 1' });
      bus.mq.emit({ topic: 't/x', v: 'local 2' });
      await waitFor(() => got.length === 3, 'both delivered here');
      expect(got).toEqual(['through redis', 'local 1', 'local 2']);
      expect(counted).toBe(2);
    } finally {
      await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 2000))]);
      bus.sessions.disconnect();
    }
  });
});
