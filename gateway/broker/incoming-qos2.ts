import type { Client } from 'aedes';
import type { PersistenceHooks, PersistenceLimits } from './persistence.js';
import { payloadBytes, type Stored } from './session-queue.js';

/**
 * What a QoS 2 PUBLISH is, decided before ingest takes it (MQTT 3.1.1 § 4.3.3, method A: the
 * message is taken when its PUBLISH arrives, its id known until PUBREL): `new` (reserved: take
 * it), `known` (its id is not released: the same message whatever its payload or DUP flag, not
 * taken again [MQTT-4.3.3-2]), `wait` (the first PUBLISH under its id is still being taken: ask
 * again once `settled`), or `refused` (over the limits, or its connection is gone: not taken).
 */
export type Qos2Admission =
  | { readonly kind: 'new' | 'known' }
  | { readonly kind: 'wait'; readonly settled: Promise<void> }
  | { readonly kind: 'refused'; readonly error: Error };

/** A message id held, and, until Aedes stores it, the PUBLISH that reserved it. */
interface Entry {
  readonly bytes: number;
  pending?: { readonly packet: object; readonly settle: () => void; readonly settled: Promise<void> };
}

/**
 * Incoming QoS 2 messages (received, PUBREC sent, PUBREL awaited) for the bounded persistence
 * (persistence.ts): a stub per message id, never the payload, counted per client id across
 * sessions, within `maxInflightQos2` messages and `maxInflightQos2Bytes` payload bytes.
 *
 * Aedes 1.2 asks whether an id is known only after `authorizePublish`, where the gateway ingests:
 * so the publish pipeline asks `admit` first, which reserves the id (a refused message is never
 * ingested, one sent again under an unreleased id is not ingested twice); Aedes' own `get` then
 * sees the reserving PUBLISH as new and `store` confirms it. A plain Map, not a BoundedMap:
 * forgetting an entry to make room would lift its bound; sessions expiring and one client id per
 * credential bound it.
 */
export class IncomingQos2 {
  private readonly held = new Map<string, { readonly ids: Map<number, Entry>; bytes: number }>();
  /** PUBLISHes `admit` reserved an id for: one whose entry went meanwhile (a clean session) is not stored again. */
  private readonly reserved = new WeakSet<object>();
  private total = 0;

  constructor(
    private readonly limits: Pick<PersistenceLimits, 'maxInflightQos2' | 'maxInflightQos2Bytes'>,
    private readonly hooks: Pick<PersistenceHooks, 'onInflightRefused'>,
  ) {}

  /** Unreleased QoS 2 messages, all clients. */
  get count(): number {
    return this.total;
  }

  /** Before ingest (the publish pipeline): see Qos2Admission. Synchronous, so a socket read's PUBLISHes are decided in order. */
  admit(client: Client, packet: Stored): Qos2Admission {
    const messageId = packet.messageId ?? 0;
    const entry = this.held.get(client.id)?.ids.get(messageId);
    if (entry?.pending) return { kind: 'wait', settled: entry.pending.settled };
    if (entry) return { kind: 'known' };
    // Closed (over the limit by an earlier PUBLISH of its read): its client sends it again, to be taken then.
    if (client.closed) return { kind: 'refused', error: new Error('connection closed') };
    const refusal = this.overLimits(client, payloadBytes(packet));
    if (refusal) return { kind: 'refused', error: refusal };
    let settle = (): void => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.add(client.id, messageId, { bytes: payloadBytes(packet), pending: { packet, settle, settled } });
    this.reserved.add(packet);
    return { kind: 'new' };
  }

  /** A reserved PUBLISH that was not taken after all (ingest refused it): its id is free again. */
  abandon(client: Client, packet: Stored): void {
    const messageId = packet.messageId ?? 0;
    if (this.held.get(client.id)?.ids.get(messageId)?.pending?.packet === packet) this.remove(client.id, messageId);
  }

  async store(client: Client, packet: Stored): Promise<void> {
    const messageId = packet.messageId ?? 0;
    const entry = this.held.get(client.id)?.ids.get(messageId);
    if (entry?.pending?.packet === packet) {
      // Counted when admitted.
      const { settle } = entry.pending;
      delete entry.pending;
      settle();
      return;
    }
    if (this.reserved.has(packet)) return;
    // Not admitted by the pipeline (a broker without it): the limits are checked here; the same id again is no new message.
    const bytes = payloadBytes(packet);
    if (entry) this.remove(client.id, messageId);
    else {
      const refusal = this.overLimits(client, bytes);
      if (refusal) throw refusal;
    }
    this.add(client.id, messageId, { bytes });
  }

  /** The limits a new message would break, counted and said (Aedes then closes the connection). */
  private overLimits(client: Client, bytes: number): InflightLimitError | undefined {
    const held = this.held.get(client.id);
    const count = held?.ids.size ?? 0;
    const heldBytes = held?.bytes ?? 0;
    const { maxInflightQos2, maxInflightQos2Bytes } = this.limits;
    let detail: string | undefined;
    if (maxInflightQos2 > 0 && count >= maxInflightQos2) detail = `${count} QoS 2 messages not released (no PUBREL), the limit is ${maxInflightQos2} (MQTT_MAX_INFLIGHT_QOS2)`;
    else if (maxInflightQos2Bytes > 0 && heldBytes + bytes > maxInflightQos2Bytes) {
      detail = `${heldBytes} bytes of QoS 2 messages not released (no PUBREL), the limit is ${maxInflightQos2Bytes} (MQTT_MAX_INFLIGHT_QOS2_BYTES)`;
    }
    if (detail === undefined) return undefined;
    this.hooks.onInflightRefused?.(client, detail);
    return new InflightLimitError(detail);
  }

  /** The stub Aedes asks for: a PUBLISH sent again (answered with PUBREC only) or a PUBREL's. */
  async get(client: Client, packet: Stored): Promise<Stored> {
    const messageId = packet.messageId ?? 0;
    const entry = this.held.get(client.id)?.ids.get(messageId);
    // The PUBLISH that reserved the id is new to Aedes: it stores it, then publishes it.
    if (!entry || entry.pending?.packet === packet) throw new Error('no such packet');
    return { cmd: 'publish', messageId, qos: 2 };
  }

  async del(client: Client, packet: Stored): Promise<void> {
    const messageId = packet.messageId ?? 0;
    if (!this.held.get(client.id)?.ids.has(messageId)) throw new Error('no such packet');
    this.remove(client.id, messageId);
  }

  /** A client's stubs go (a clean session, an expired one). */
  drop(clientId: string): void {
    const held = this.held.get(clientId);
    if (!held) return;
    this.total -= held.ids.size;
    this.held.delete(clientId);
    for (const entry of held.ids.values()) entry.pending?.settle();
  }

  private add(clientId: string, messageId: number, entry: Entry): void {
    let held = this.held.get(clientId);
    if (!held) this.held.set(clientId, (held = { ids: new Map(), bytes: 0 }));
    held.ids.set(messageId, entry);
    held.bytes += entry.bytes;
    this.total++;
  }

  /** An id released (or not taken after all): whoever waits on its first PUBLISH asks again. */
  private remove(clientId: string, messageId: number): void {
    const held = this.held.get(clientId);
    const entry = held?.ids.get(messageId);
    if (!held || !entry) return;
    held.ids.delete(messageId);
    held.bytes -= entry.bytes;
    this.total--;
    if (held.ids.size === 0) this.held.delete(clientId);
    entry.pending?.settle();
  }
}

/** The error Aedes gets for a QoS 2 publish over the limits (already counted: not a protocol error). */
export class InflightLimitError extends Error {
  override readonly name = 'InflightLimitError';
}
