import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import type { IncomingPublish } from '../broker/publish-pipeline.js';
import { BoundedMap } from '../core/bounded-map.js';
import { WaitBatches } from '../core/wait-batches.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

type Packet = Pick<IncomingPublish, 'topic' | 'payload' | 'qos' | 'dup' | 'messageId'>;

/**
 * Readings sent again: recognised (by id and content, or as the DUP of the last packet with its
 * message id), never kept or ruled twice, and acknowledged no earlier than what they repeat.
 */
export class Resends {
  /** Readings whose acknowledgement waits (on the spool), by id or packet: what a resend must wait for too. */
  private readonly awaitingOriginal = new Map<string, Promise<void>>();
  /** clientId/messageId → payload checksum, to recognise a QoS 1 redelivery (DUP) without an id. */
  private readonly seenPackets = new BoundedMap<string, number>(200_000);
  private readonly logLimiter: LogLimiter;
  /** Keys waiting on one commit group are forgotten together when it settles. */
  private readonly forgetting = new WaitBatches<string>((keys, _err, kept) => {
    // Only their own entries: a later publish may have taken a key (a message id reused) meanwhile.
    for (const k of keys) if (this.awaitingOriginal.get(k) === kept) this.awaitingOriginal.delete(k);
  });

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.logLimiter = new LogLimiter(log);
  }

  /** A reading without an id can only be recognised as a QoS 1 redelivery of the same packet. */
  isRedelivery(clientId: string | null, packet: Packet): boolean {
    if (packet.qos === 0 || packet.messageId === undefined) return false;
    // Message ids are reused, so only a DUP packet can be a redelivery of the last one with its id.
    const key = packetKey(clientId, packet);
    const sum = crc32(packet.payload, crc32(packet.topic));
    const duplicate = packet.dup && this.seenPackets.get(key) === sum;
    this.seenPackets.set(key, sum);
    return duplicate;
  }

  /**
   * A resend: counted, and acknowledged once the original is durable: if it is still waiting
   * (spool busy or full), so does its resend.
   */
  duplicate(clientId: string | null, packet: Packet, key: string, id: string | undefined): Promise<void> | undefined {
    this.metrics.duplicates.inc();
    if (this.logLimiter.allow('duplicate')) this.log.info({ topic: packet.topic, eventId: id, clientId, messageId: packet.messageId }, 'duplicate reading dropped (sent again with the same id and content)');
    return this.awaitingOriginal.get(key);
  }

  /** A QoS 2 PUBLISH under a message id not yet released (broker/incoming-qos2.ts): the message taken already, whatever its payload. */
  qos2Resent(clientId: string | null, packet: Packet): void {
    this.metrics.duplicates.inc();
    if (this.logLimiter.allow('duplicate')) this.log.info({ topic: packet.topic, clientId, messageId: packet.messageId }, 'QoS 2 message sent again before its PUBREL: dropped (taken once per message id, MQTT-4.3.3-2)');
  }

  /** The original's acknowledgement, for resends of it that come while it waits. */
  awaiting(key: string | undefined, kept: Promise<void>): void {
    if (key === undefined) return;
    this.awaitingOriginal.set(key, kept);
    this.forgetting.add(kept, key);
  }
}

/** What identifies a packet for its redelivery: the client and the message id. */
export function packetKey(clientId: string | null, packet: Pick<IncomingPublish, 'messageId'>): string {
  return `${clientId ?? ''}/${packet.messageId}`;
}

/** What identifies a reading with an id for its resend: topic, id and content (the same id with other content is another reading). */
export function readingKey(topic: string, r: { readonly id?: string | undefined; readonly numeric: number; readonly tsMs: number | undefined }): string {
  return `${topic}\n${r.id}\n${r.numeric}|${r.tsMs}`;
}
