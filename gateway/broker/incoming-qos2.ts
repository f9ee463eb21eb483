import type { Client } from 'aedes';
import type { PersistenceHooks, PersistenceLimits } from './persistence.js';
import { payloadBytes, type Stored } from './session-queue.js';

/**
 * Incoming QoS 2 messages (received, PUBREC sent, PUBREL awaited) for the bounded persistence
 * (persistence.ts): a stub per message id, never the payload (aedes 1.2 publishes on PUBLISH and
 * only asks whether an id is known), counted per client id across sessions, within
 * `maxInflightQos2` messages and `maxInflightQos2Bytes` payload bytes; one more rejects, which
 * makes Aedes close the connection. A plain Map, not a BoundedMap: forgetting an entry to make
 * room would lift its bound; sessions expiring and one client id per credential bound it.
 */
export class IncomingQos2 {
  private readonly held = new Map<string, { readonly ids: Map<number, number>; bytes: number }>();
  private total = 0;

  constructor(
    private readonly limits: Pick<PersistenceLimits, 'maxInflightQos2' | 'maxInflightQos2Bytes'>,
    private readonly hooks: Pick<PersistenceHooks, 'onInflightRefused'>,
  ) {}

  /** Unreleased QoS 2 messages, all clients. */
  get count(): number {
    return this.total;
  }

  async store(client: Client, packet: Stored): Promise<void> {
    const messageId = packet.messageId ?? 0;
    let held = this.held.get(client.id);
    if (!held) this.held.set(client.id, (held = { ids: new Map(), bytes: 0 }));
    const bytes = payloadBytes(packet);
    const previous = held.ids.get(messageId);
    const { maxInflightQos2, maxInflightQos2Bytes } = this.limits;
    if (previous === undefined) {
      if (maxInflightQos2 > 0 && held.ids.size >= maxInflightQos2) return this.refuse(client, `${held.ids.size} QoS 2 messages not released (no PUBREL), the limit is ${maxInflightQos2} (MQTT_MAX_INFLIGHT_QOS2)`);
      if (maxInflightQos2Bytes > 0 && held.bytes + bytes > maxInflightQos2Bytes) {
        return this.refuse(client, `${held.bytes} bytes of QoS 2 messages not released (no PUBREL), the limit is ${maxInflightQos2Bytes} (MQTT_MAX_INFLIGHT_QOS2_BYTES)`);
      }
      this.total++;
    }
    held.bytes += bytes - (previous ?? 0);
    held.ids.set(messageId, bytes);
  }

  private refuse(client: Client, detail: string): never {
    this.hooks.onInflightRefused?.(client, detail);
    throw new InflightLimitError(detail);
  }

  async get(client: Client, packet: Stored): Promise<Stored> {
    const messageId = packet.messageId ?? 0;
    if (!this.held.get(client.id)?.ids.has(messageId)) throw new Error('no such packet');
    return { cmd: 'publish', messageId, qos: 2 };
  }

  async del(client: Client, packet: Stored): Promise<void> {
    const held = this.held.get(client.id);
    const messageId = packet.messageId ?? 0;
    const bytes = held?.ids.get(messageId);
    if (!held || bytes === undefined) throw new Error('no such packet');
    held.ids.delete(messageId);
    held.bytes -= bytes;
    this.total--;
    if (held.ids.size === 0) this.held.delete(client.id);
  }

  /** A client's stubs go (a clean session, an expired one). */
  drop(clientId: string): void {
    const held = this.held.get(clientId);
    if (!held) return;
    this.total -= held.ids.size;
    this.held.delete(clientId);
  }
}

/** The error Aedes gets for a QoS 2 publish over the limits (already counted: not a protocol error). */
export class InflightLimitError extends Error {
  override readonly name = 'InflightLimitError';
}
