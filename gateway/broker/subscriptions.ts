import type { Client, Subscription } from 'aedes';
import { filterWithin } from './acl.js';

interface Held {
  /** Granted filters and their QoS. */
  readonly filters: Map<string, number>;
  /** Granted and not yet handed to the persistence (persistent sessions only). */
  unstored: Subscription[];
  /** The lowest granted QoS: a message at or below it needs no look-up of its matching filters. */
  minQos: number;
}

/** A client that speaks for many devices, or listens to them (an operator's tool, Home Assistant, a bridge). */
export function speaksForMany(role: string | undefined): boolean {
  return role === 'admin' || role === 'observer' || role === 'bridge';
}

/**
 * The filters each client was granted: counted against MQTT_MAX_SUBSCRIPTIONS (a filter
 * subscribed again does not count twice; an UNSUBSCRIBE frees its place), handed to the
 * persistence so that only granted filters are stored (persistence.ts), and asked for the QoS
 * a message may be delivered at ([MQTT-3.8.4-6]: the highest QoS granted among the filters that
 * match it, which Aedes 1.2 finds only for an exact-topic subscription).
 */
export class SubscriptionLedger {
  private readonly held = new WeakMap<Client, Held>();

  /**
   * @param max filters per client (0 = no limit)
   * @param maxMany …per client that speaks for many devices (an admin, observer or bridge: Home
   *   Assistant subscribes to each entity's state, availability and attributes one by one)
   */
  constructor(
    private readonly max: number,
    private readonly maxMany = max,
  ) {}

  /** The limit for a client (`many`: one that speaks for many devices). */
  limit(many: boolean): number {
    return many ? this.maxMany : this.max;
  }

  /** Records a granted filter; false (nothing recorded) when the client holds its limit of others already. */
  grant(client: Client, sub: Subscription, many = false): boolean {
    let h = this.held.get(client);
    if (!h) this.held.set(client, (h = { filters: new Map(), unstored: [], minQos: 2 }));
    const max = this.limit(many);
    if (!h.filters.has(sub.topic) && max > 0 && h.filters.size >= max) return false;
    const previous = h.filters.get(sub.topic);
    h.filters.set(sub.topic, sub.qos);
    // O(1) but when the filter that held the lowest QoS is granted a higher one.
    h.minQos = previous === h.minQos && sub.qos > previous ? lowest(h.filters) : Math.min(h.minQos, sub.qos);
    if (!client.clean) h.unstored.push(sub);
    return true;
  }

  /** How many filters the client holds. */
  count(client: Client): number {
    return this.held.get(client)?.filters.size ?? 0;
  }

  removed(client: Client, filters: readonly string[]): void {
    const h = this.held.get(client);
    if (!h) return;
    for (const f of filters) h.filters.delete(f);
    h.minQos = lowest(h.filters);
  }

  /** The filters granted since the last call, for the persistence to store (and no others). */
  takeGranted(client: Client): Subscription[] {
    const h = this.held.get(client);
    if (!h || h.unstored.length === 0) return [];
    const taken = h.unstored;
    h.unstored = [];
    return taken;
  }

  /** The QoS a message of `qos` on `topic` goes to this client at: at most the highest granted among matching filters. */
  deliveryQos(client: Client, topic: string, qos: number): number {
    const h = this.held.get(client);
    if (!h || qos <= h.minQos) return qos;
    let granted = -1;
    for (const [filter, q] of h.filters) if (q > granted && filterWithin(topic, filter)) granted = q;
    return granted < 0 ? qos : Math.min(qos, granted);
  }
}

/** The lowest granted QoS (2 with none): a loop, as a spread of every filter's would be per SUBSCRIBE. */
function lowest(filters: ReadonlyMap<string, number>): number {
  let min = 2;
  for (const q of filters.values()) if (q < min) min = q;
  return min;
}
