import Denque from 'denque';
import { describe, expect, it } from 'vitest';
import { createMessageBus } from '../../../gateway/broker/queue.js';

describe('the broker’s message bus', () => {
  it('queues past its concurrency on a deque and delivers everything in order', async () => {
    const bus = createMessageBus(1);
    const internals = bus as unknown as { _messageQueue: unknown };
    expect(internals._messageQueue).toBeInstanceOf(Denque);
    const got: number[] = [];
    await new Promise<void>((resolve) => bus.on('t/#', (m, done) => {
      got.push(m['n'] as number);
      setImmediate(done);
      if (got.length === 5000) resolve();
    }, () => {
      for (let n = 0; n < 5000; n++) bus.emit({ topic: 't/x', n });
    }));
    expect(got).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    await new Promise<void>((r) => bus.close(r));
  });
});

describe('the broker’s message bus under a long queue released at once', () => {
  it('delivers everything in order without running out of stack (mqemitter starts the next delivery on the stack of the last)', async () => {
    const bus = createMessageBus(1);
    const got: number[] = [];
    let hold: (() => void) | undefined;
    const all = new Promise<void>((resolve) =>
      bus.on('t/#', (m, done) => {
        got.push(m['n'] as number);
        if (got.length === 100_001) resolve();
        // The first delivery waits (a slow subscriber) while 100,000 queue behind it; every later one completes at once.
        if (m['n'] === 0) hold = done;
        else done();
      }),
    );
    await new Promise((r) => setImmediate(r));
    for (let n = 0; n < 100_000; n++) bus.emit({ topic: 't/x', n });
    expect(got).toEqual([0]);
    // Emits while the queue drains keep their place behind it.
    hold!();
    bus.emit({ topic: 't/x', n: 100_000 });
    await all;
    expect(got.every((n, i) => n === i)).toBe(true);
    await new Promise<void>((r) => bus.close(r));
  });
});

describe('the broker’s message bus with several slots, under a long queue released at once', () => {
  it('keeps the order when other slots free up while a delivery waits for a fresh stack', async () => {
    const slots = 10;
    const bus = createMessageBus(slots);
    const got: number[] = [];
    const held: (() => void)[] = [];
    let release = false;
    const all = new Promise<void>((resolve) =>
      bus.on('t/#', (m, done) => {
        got.push(m['n'] as number);
        if (got.length === 100_000) resolve();
        // The first `slots` deliveries wait (slow subscribers) while the rest queue; later ones complete at once.
        if (!release) held.push(done);
        else done();
      }),
    );
    await new Promise((r) => setImmediate(r));
    for (let n = 0; n < 100_000; n++) bus.emit({ topic: 't/x', n });
    expect(got.length).toBe(slots);
    // All slots free in one turn: the first drains the queue until a delivery moves to a fresh stack; the others must not overtake it.
    release = true;
    for (const done of held.splice(0)) done();
    await all;
    expect(got.every((n, i) => n === i)).toBe(true);
    await new Promise<void>((r) => bus.close(r));
  });
});
