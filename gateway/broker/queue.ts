import Denque from 'denque';
import mqemitter from 'mqemitter';

/**
 * Aedes' message bus (mqemitter 7.1) with its overflow queue on a deque. When more than
 * `concurrency` deliveries are in progress (a subscriber slower than the publishers), mqemitter
 * queues messages in a plain array and takes each with shift(), which copies the array: under a
 * QoS 0 burst the profile showed 40–75% of the broker's time there, and the broker slowed for
 * every client. A deque takes them in O(1). The two fields are mqemitter's own (its exact version
 * is pinned in package.json); the test in test/unit/broker/queue.test.ts fails if they change.
 *
 * And without running out of stack: when a delivery completes synchronously, mqemitter starts
 * the next queued one on the same stack (`released` → `_do`), so a long queue released at once
 * (a slow subscriber catching up under load) nests one frame chain per message until
 * `RangeError: Maximum call stack size exceeded` kills the process (mcollina/mqemitter#204). Past
 * a depth, the next delivery starts on a fresh stack; its slot stays taken meanwhile, so emits
 * that arrive in between queue behind it, and deliveries that another slot (concurrency > 1: the
 * broker's 100, the cluster bus' 1,000) would start meanwhile wait behind it too: order is kept.
 */
export function createMessageBus(concurrency = 100): mqemitter.MQEmitter {
  return tuneMessageBus(mqemitter({ concurrency, matchEmptyLevels: true }));
}

/**
 * Puts an mqemitter's overflow queue on a deque and bounds its stack (both above). The cluster's
 * bus goes through it too: mqemitter-redis is an mqemitter underneath, and the messages it takes
 * from Redis are delivered by mqemitter's own emit, `_do` and `released`, so a burst from another
 * node queued behind a slow subscriber would nest the same way.
 */
export function tuneMessageBus<T extends mqemitter.MQEmitter>(mq: T): T {
  const internals = mq as unknown as { _messageQueue: unknown[]; _messageCallbacks: unknown[] };
  if (!Array.isArray(internals._messageQueue) || !Array.isArray(internals._messageCallbacks)) {
    throw new Error('mqemitter internals changed: update gateway/broker/queue.ts');
  }
  internals._messageQueue = new Denque() as unknown as unknown[];
  internals._messageCallbacks = new Denque() as unknown as unknown[];
  boundStack(mq);
  return mq;
}

/** Deliveries started on one stack before the next one is moved to a fresh stack. */
const MAX_NESTED_DELIVERIES = 64;

type Do = (this: mqemitter.MQEmitter, message: mqemitter.Message, callback: () => void) => mqemitter.MQEmitter;

function boundStack(mq: mqemitter.MQEmitter): void {
  const internals = mq as unknown as { _do: Do; current: number; _doing: boolean };
  const original = internals._do;
  if (typeof original !== 'function' || typeof internals.current !== 'number') throw new Error('mqemitter internals changed: update gateway/broker/queue.ts');
  let depth = 0;
  // Deliveries moved to a fresh stack, in order. While any waits, every later delivery waits behind
  // it: with several slots (concurrency > 1), a slot freed meanwhile would otherwise start the
  // next queued message before the moved one.
  const moved = new Denque<{ message: mqemitter.Message; callback: () => void }>();
  const start = (self: mqemitter.MQEmitter, message: mqemitter.Message, callback: () => void): void => {
    depth++;
    try {
      original.call(self, message, callback);
    } finally {
      depth--;
    }
  };
  internals._do = function (this: mqemitter.MQEmitter, message, callback) {
    if (depth < MAX_NESTED_DELIVERIES && moved.isEmpty()) {
      start(this, message, callback);
      return this;
    }
    // Hold the slot as _do would: emits in between see it taken and queue behind this message.
    internals.current++;
    internals._doing = true;
    moved.push({ message, callback });
    if (moved.length === 1) {
      setImmediate(() => {
        // Each starts at depth 0 here; those it releases at once join the end of `moved` while it is not empty.
        for (let next = moved.peekFront(); next; next = moved.peekFront()) {
          internals.current--;
          start(this, next.message, next.callback);
          moved.shift();
        }
      });
    }
    return this;
  };
}
