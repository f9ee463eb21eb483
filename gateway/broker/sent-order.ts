import type { Aedes } from 'aedes';

type Emit = (packet: { brokerId?: string; brokerCounter?: number; qos?: number }, done?: (err?: Error) => void) => unknown;

/**
 * Numbers each QoS 0 message as it is sent to subscribers, not as its publish starts.
 *
 * Aedes numbers a message (`brokerCounter`) when its publish starts, and a client is sent no
 * message numbered below the last one it was sent (its dedupe of overlapping subscriptions,
 * aedes lib/client.js `dedupe`). A retained publish is sent only once the retained store is done,
 * so a message published right after it is sent first, and the retained one is then dropped for
 * every subscriber that both match (moscajs/aedes#994): Tasmota's `tele/<t>/LWT` `Online`
 * (retained, QoS 0), followed at once by `cmnd/<t>/POWER` and INFO1..3, never reached a client
 * subscribed to `#`. A QoS ≥ 1 message keeps its number: a persistent session's queue is looked
 * up by it (aedes `outgoingUpdate`).
 */
export function numberAsSent(aedes: Aedes): void {
  const broker = aedes as unknown as { id: string; counter: number; mq: { emit: Emit } };
  if (typeof broker.counter !== 'number' || typeof broker.mq?.emit !== 'function') throw new Error('aedes internals changed: update gateway/broker/sent-order.ts');
  const emit = broker.mq.emit.bind(broker.mq);
  broker.mq.emit = (packet, done) => {
    // Only this broker's own publishes: another node's come with its id and its own numbering.
    if (packet.brokerId === broker.id && !packet.qos && typeof packet.brokerCounter === 'number') packet.brokerCounter = ++broker.counter;
    return emit(packet, done);
  };
}

type Publish = (packet: unknown, client?: unknown, done?: (err?: Error) => void) => void;

/** One client's publishes: the one begun and not yet sent (its release), and those waiting to begin. */
interface Held {
  inFlight: (() => void) | undefined;
  readonly waiting: (() => void)[];
  pumping: boolean;
}

/**
 * Sends one client's publishes to subscribers in the order it sent them. Aedes begins all the
 * publishes of a socket read at once, and one that waits (a retained store, a QoS ≥ 1 message's
 * offline queues) is sent after those that did not: Tasmota's LWT `Online` reached a subscriber
 * after the `cmnd/<t>/POWER` it sent next. A client's next publish begins once the one before is
 * sent (or failed); one that waits for nothing is sent as it begins, so nothing waits then.
 */
export function sendInOrder(aedes: Aedes): void {
  const broker = aedes as unknown as { publish: Publish; mq: { emit: Emit } };
  if (typeof broker.publish !== 'function' || typeof broker.mq?.emit !== 'function') throw new Error('aedes internals changed: update gateway/broker/sent-order.ts');
  const publish = broker.publish.bind(aedes);
  const held = new Map<string, Held>();
  // Begins the waiting ones in turn, in a loop: one sent as it begins does not nest the next in its stack.
  const pump = (id: string, h: Held): void => {
    if (h.pumping) return;
    h.pumping = true;
    try {
      while (!h.inFlight && h.waiting.length > 0) h.waiting.shift()?.();
    } finally {
      h.pumping = false;
    }
    if (!h.inFlight && h.waiting.length === 0) held.delete(id);
  };
  broker.publish = (packet, client, done) => {
    const id = typeof client === 'object' && client ? (client as { id?: unknown }).id : undefined;
    if (typeof id !== 'string') return publish(packet, client, done);
    let h = held.get(id);
    // The usual case, nothing to keep in order: a QoS 0 message not retained is sent as it begins,
    // and none of the client's is waiting before it. No allocation per message.
    const p = packet as { qos?: number; retain?: boolean };
    if (!h && !p.qos && !p.retain) return publish(packet, client, done);
    if (!h) held.set(id, (h = { inFlight: undefined, waiting: [], pumping: false }));
    const h2 = h;
    h2.waiting.push(() => {
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        h2.inFlight = undefined;
        pump(id, h2);
      };
      h2.inFlight = release;
      publish(packet, client, (err) => {
        release();
        done?.(err);
      });
    });
    pump(id, h2);
  };
  // A publish Aedes never completes must not hold its client's next ones for good: its offline-queue
  // lookup failing (Redis away) emits 'error' and never calls back; a client gone has nothing to wait for.
  const events = aedes as unknown as NodeJS.EventEmitter;
  events.on('error', () => {
    for (const h of [...held.values()]) h.inFlight?.();
  });
  events.on('clientDisconnect', (client: { id?: unknown }) => {
    if (typeof client.id === 'string') held.get(client.id)?.inFlight?.();
  });
  const emit = broker.mq.emit.bind(broker.mq);
  broker.mq.emit = (packet, done) => {
    const result = emit(packet, done);
    // Aedes marks a client's publish with its id as it sends it: that client's next may begin.
    const id = (packet as { clientId?: unknown }).clientId;
    if (typeof id === 'string') held.get(id)?.inFlight?.();
    return result;
  };
}
