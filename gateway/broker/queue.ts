import Denque from 'denque';
import mqemitter from 'mqemitter';

/**
 * Aedes' message bus (mqemitter 7.1) with its overflow queue on a deque. When more than
 * `concurrency` deliveries are in progress (a subscriber slower than the publishers), mqemitter
 * queues messages in a plain array and takes each with shift(), which copies the array: under a
 * QoS 0 burst the profile showed 40–75% of the broker's time there, and the broker slowed for
 * every client. A deque takes them in O(1). The two fields are mqemitter's own (its exact version
 * is pinned in package.json);
 * the test in test/unit/queue.test.ts fails if they change.
 */
export function createMessageBus(concurrency = 100): mqemitter.MQEmitter {
  return useDeque(mqemitter({ concurrency, matchEmptyLevels: true }));
}

/** Puts an mqemitter's overflow queue on a deque (mqemitter-redis is an mqemitter underneath too). */
export function useDeque<T extends mqemitter.MQEmitter>(mq: T): T {
  const internals = mq as unknown as { _messageQueue: unknown[]; _messageCallbacks: unknown[] };
  if (!Array.isArray(internals._messageQueue) || !Array.isArray(internals._messageCallbacks)) {
    throw new Error('mqemitter internals changed: update gateway/broker/queue.ts');
  }
  internals._messageQueue = new Denque() as unknown as unknown[];
  internals._messageCallbacks = new Denque() as unknown as unknown[];
  return mq;
}
