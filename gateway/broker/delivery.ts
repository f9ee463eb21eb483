import type { Duplex } from 'node:stream';
import type { AedesOptions, Client } from 'aedes';
import type { WebSocket } from 'ws';
import type { Metrics } from '../observability/metrics.js';
import { canSubscribe } from './acl.js';
import type { Access } from './access.js';
import type { Now } from './limits.js';

export interface DeliveryOptions {
  readonly access: Access;
  readonly metrics: Metrics;
  /** Bytes held unsent for one client before it counts as behind (MQTT_MAX_CLIENT_BUFFER_BYTES; 0 = never). */
  readonly maxClientBufferBytes: number;
  /** How long a client may stay behind (MQTT_SLOW_CLIENT_TIMEOUT_MS). */
  readonly slowClientTimeoutMs: number;
  readonly now?: Now;
}

/** The WebSocket under each MQTT-over-WebSocket stream: its own send buffer counts too. */
const webSockets = new WeakMap<Duplex, WebSocket>();

export function trackWebSocket(stream: Duplex, socket: WebSocket): void {
  webSockets.set(stream, socket);
}

/** Bytes written to a connection and not yet taken by the kernel. */
function bufferedBytes(conn: Duplex): number {
  return conn.writableLength + (webSockets.get(conn)?.bufferedAmount ?? 0);
}

/** Bytes the kernel has taken from a connection so far: it grows while the client reads. */
function bytesTaken(conn: Duplex): number {
  const socket = (webSockets.get(conn) as unknown as { _socket?: { bytesWritten?: number } } | undefined)?._socket ?? (conn as { bytesWritten?: number });
  return socket.bytesWritten ?? 0;
}

/**
 * A QoS ≥ 1 message to a client that has taken nothing for this long while behind disconnects
 * it (at most MQTT_SLOW_CLIENT_TIMEOUT_MS): long enough that a client reading a burst is not
 * taken for a stuck one, short enough that the deliveries waiting on a stuck one's drain (one
 * delivery slot each) stay few.
 */
const STALL_MS = 1000;

/**
 * Aedes' `authorizeForward` hook: called synchronously for every delivery to a client (live,
 * retained, or from a persistent session's queue), before it is written.
 *
 * - **A subscriber that does not read never holds up the others** (docs/findings-15.md § 9).
 *   Aedes delivers a message to all its subscribers before it takes the next one (at most 100
 *   at once), and a write to a full socket waits for 'drain'. Connections get a write buffer of
 *   MQTT_MAX_CLIENT_BUFFER_BYTES (broker.ts), and once a client has that much unsent, a QoS 0
 *   delivery to it is skipped (counted) and a QoS ≥ 1 delivery disconnects it at once (a
 *   persistent session keeps the message in its queue for its return); a client behind for
 *   MQTT_SLOW_CLIENT_TIMEOUT_MS is disconnected too. Only the one write that crossed the bound
 *   waits for drain.
 * - **The granted QoS** ([MQTT-3.8.4-6], [MQTT-3.3.5-1]): a message goes out at most at the
 *   highest QoS granted among the client's filters that match it; Aedes 1.2 finds the granted
 *   QoS only for a subscription to the exact topic.
 * - **The role, again** (§ 11): nothing a client's role may not subscribe to is delivered to it,
 *   whatever filled its queue.
 */
export class Delivery {
  /** Since when a client is behind and has taken nothing, and how much it had taken then. */
  private readonly behind = new WeakMap<Client, { since: number; taken: number }>();
  private readonly now: Now;

  constructor(private readonly o: DeliveryOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  readonly authorizeForward: NonNullable<AedesOptions['authorizeForward']> = (client, packet) => {
    // The gateway's own retained facts (devices/kept-learning.ts): a `#` filter matches them in the retained store, but `$` topics are no client's ([MQTT-4.7.2-1]).
    if (packet.topic.startsWith('$gateway/')) return null;
    const { access } = this.o;
    const principal = access.principal(client);
    if (principal && principal.role !== 'admin' && principal.role !== 'observer' && !canSubscribe(principal, packet.topic).ok) return null;
    const qos = access.subscriptions.deliveryQos(client, packet.topic, packet.qos);
    const max = this.o.maxClientBufferBytes;
    if (max > 0 && bufferedBytes(client.conn) >= max) {
      if (access.isCut(client)) return packet;
      const stalledMs = this.stalledFor(client);
      if (qos === 0) {
        this.o.metrics.slowSubscriberDropped.inc();
        if (stalledMs > this.o.slowClientTimeoutMs) access.cutSlow(client, `${max} bytes unsent and nothing read for ${Math.round(stalledMs)} ms (MQTT_SLOW_CLIENT_TIMEOUT_MS)`);
        return null;
      }
      // Returned as it is: written, or, once cut, failing on the closed socket (a persistent session keeps it queued).
      if (stalledMs >= Math.min(STALL_MS, this.o.slowClientTimeoutMs)) access.cutSlow(client, `a QoS ${qos} message with ${max} bytes unsent and nothing read for ${Math.round(stalledMs)} ms (MQTT_MAX_CLIENT_BUFFER_BYTES)`);
      return packet;
    }
    this.behind.delete(client);
    return qos < packet.qos ? { ...packet, qos: qos as 0 | 1 | 2 } : packet;
  };

  /** How long a client that is behind has taken nothing from its connection. */
  private stalledFor(client: Client): number {
    const now = this.now();
    const taken = bytesTaken(client.conn);
    const b = this.behind.get(client);
    if (!b || taken > b.taken) {
      this.behind.set(client, { since: now, taken });
      return 0;
    }
    return now - b.since;
  }
}
