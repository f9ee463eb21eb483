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
