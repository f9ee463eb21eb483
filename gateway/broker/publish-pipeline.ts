import type { AedesOptions, Client, PublishPacket } from 'aedes';
import { WaitBatches } from '../core/wait-batches.js';
import type { Access } from './access.js';
import type { IncomingQos2 } from './incoming-qos2.js';
import type { RetainedLedger } from './retained.js';

/** A publish as the gateway's pipeline sees it (Aedes' packet, its payload as a Buffer). */
export interface IncomingPublish {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly dup: boolean;
  readonly messageId?: number | undefined;
  /** Retained: an empty one deletes the topic's retained message (MQTT 3.1.1, 3.3.1.3), never a dead letter. */
  readonly retain?: boolean;
  /** What the client's credential says of native devices (a bridge's family and base, a native device): where ingest looks first. */
  readonly native?: { readonly family?: string; readonly nativeId?: string; readonly base?: string } | undefined;
  /** What the target made of it: a dead letter is marked here (and never retained). */
  readonly verdict?: { deadLettered: boolean };
  /**
   * What Aedes forwards, retains and queues instead of the payload sent, when the target sets it
   * before its promise settles (a keypad code redacted: ingest/codes.ts). Absent on a redrive.
   */
  readonly onward?: { payload?: Buffer };
}

/**
 * Takes a publish into the gateway. Returns a promise when the acknowledgement must wait for it
 * (QoS ≥ 1 until it is durable); a rejection disconnects the client (MQTT 3.1.1 has no NACK).
 */
export interface PublishTarget {
  handle(clientId: string | null, packet: IncomingPublish): Promise<void> | undefined;
  /** A QoS 2 PUBLISH under a message id not yet released: the same message as the first, not handed on (counted as a duplicate). */
  resent?(clientId: string | null, packet: IncomingPublish): void;
}

export type AckCallback = (err: Error | null) => void;

/**
 * Calls the acknowledgement callbacks of publishes that waited on one promise (a spool commit
 * group: one reaction for the group, not one per publish), in arrival order; one that throws does
 * not keep the others from being called (the first error is thrown after).
 */
export function callAll(callbacks: readonly AckCallback[], err: Error | null): void {
  let thrown: Error | undefined;
  for (const callback of callbacks) {
    try {
      callback(err);
    } catch (e) {
      thrown ??= e instanceof Error ? e : new Error(String(e));
    }
  }
  if (thrown) throw thrown;
}

/**
 * The steps a publish goes through before Aedes acknowledges it, as aedes lists its own
 * (`publishActions`): access (role, topic limits), then the per-client rate, then, for QoS 2, its
 * message id (incoming-qos2.ts: a message refused over the limits, or sent again before PUBREL,
 * must not reach ingest, and Aedes only asks after this hook), then the target (ingest), then the
 * retained budget (retained.ts). The target is set once it exists: it publishes through the
 * broker this hook is in.
 */
export class PublishPipeline {
  private target: PublishTarget | undefined;
  /** QoS ≥ 1 acknowledgements waiting, batched by the commit group they wait on. */
  private readonly acks = new WaitBatches<AckCallback>(callAll);

  constructor(
    private readonly access: Access,
    private readonly retained?: RetainedLedger,
    private readonly qos2?: Pick<IncomingQos2, 'admit' | 'abandon'>,
  ) {}

  deliverTo(target: PublishTarget): void {
    this.target = target;
  }

  readonly authorizePublish: NonNullable<AedesOptions['authorizePublish']> = (client, packet, callback) => {
    const refused = this.access.checkPublish(client, packet);
    if (refused) {
      callback(refused);
      return;
    }
    this.access.throttle(client, () => this.take(client, packet, callback));
  };

  private take(client: Client | null, packet: PublishPacket, callback: AckCallback): void {
    const target = this.target;
    if (!target) {
      callback(new Error('the gateway is starting'));
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const native = this.access.nativeHint(client);
    const verdict = { deadLettered: false };
    const onward: { payload?: Buffer } = {};
    const incoming: IncomingPublish = { topic: packet.topic, payload, qos: packet.qos, dup: packet.dup, messageId: packet.messageId, retain: packet.retain, native, verdict, onward };
    // Aedes stores (QoS 2, retained, offline sessions) and forwards this very packet once called back.
    let done: AckCallback = (err) => {
      if (onward.payload) packet.payload = onward.payload;
      callback(err);
    };
    // A will has no message id: no handshake, taken as it comes.
    if (packet.qos === 2 && packet.messageId !== undefined && client && this.qos2) {
      const { qos2 } = this;
      const admission = qos2.admit(client, packet);
      switch (admission.kind) {
        case 'refused':
          callback(admission.error);
          return;
        case 'wait':
          // Acknowledged no earlier than the first PUBLISH under its id, and never taken twice.
          void admission.settled.then(() => this.take(client, packet, callback));
          return;
        case 'known':
          target.resent?.(client.id, incoming);
          callback(null);
          return;
        case 'new': {
          const send = done;
          done = (err) => {
            if (err) qos2.abandon(client, packet);
            send(err);
          };
        }
      }
    }
    const pending = target.handle(client?.id ?? null, incoming);
    if (packet.retain) this.retain(client, packet, payload.length, !verdict.deadLettered);
    if (pending) this.acks.add(pending, done);
    else done(null);
  }

  /** Aedes retains the very packet it publishes after this hook: clearing its flag here keeps it from the store. */
  private retain(client: Client | null, packet: PublishPacket, payloadBytes: number, valid: boolean): void {
    if (!this.retained || !client) return;
    const p = this.access.principal(client);
    const owner = p?.name ?? client.id;
    // Tasmota's discovery topics, which Home Assistant reads: a credential bound to one device may not
    // replace or clear one another credential retained (a review: any plug could remove the others').
    const ownOnly = p?.role === 'native' && packet.topic.startsWith('tasmota/discovery/');
    if (this.retained.decide(owner, packet.topic, payloadBytes, valid, ownOnly) !== 'retain') packet.retain = false;
  }
}
