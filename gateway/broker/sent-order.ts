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
