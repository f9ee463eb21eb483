import type { EventEmitter } from 'node:events';
import type { Client, Subscription } from 'aedes';
import { filterWithin } from './acl.js';
import { HeldSubscriptions, type PlaceRefusal } from './held-subscriptions.js';

interface Held {
  /** Granted filters and their QoS. */
  readonly filters: Map<string, number>;
  /** Granted and not yet handed to the persistence (persistent sessions only). */
  unstored: Subscription[];
  /** The lowest granted QoS: a message at or below it needs no look-up of its matching filters. */
  minQos: number;
  /** Its credential, when held to MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL (see HeldSubscriptions). */
  readonly owner: string | undefined;
  /** Its filters count toward MQTT_MAX_SUBSCRIPTIONS_TOTAL: it speaks for many (a device's own command topics never do). */
  readonly inTotal: boolean;
}

/** Why a filter was refused: `gateway_refusals_total{reason}`, and what to log. */
export interface GrantRefusal {
  readonly reason: 'too_many_subscriptions' | PlaceRefusal['reason'];
  readonly detail: string;
}

/** A client that speaks for many devices, or listens to them (an operator's tool, Home Assistant, a bridge). */
export function speaksForMany(role: string | undefined): boolean {
  return role === 'admin' || role === 'observer' || role === 'bridge';
}

/**
 * The filters each client was granted: counted against MQTT_MAX_SUBSCRIPTIONS, and with its
 * credential's and everyone's against MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL and _TOTAL (a filter
 * subscribed again does not count twice; an UNSUBSCRIBE or the client leaving frees its place), handed to the
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
   * @param places filters of connected clients per credential and in all (none: no such bound)
   */
  constructor(
    private readonly max: number,
    private readonly maxMany = max,
    readonly places = new HeldSubscriptions(0, 0),
  ) {}

  /** The limit for a client (`many`: one that speaks for many devices). */
  limit(many: boolean): number {
    return many ? this.maxMany : this.max;
  }

  /** Records a granted filter; false (nothing recorded) when a limit refuses it. */
  grant(client: Client, sub: Subscription, many = false, owner?: string): boolean {
    return this.admit(client, sub, many, owner) === undefined;
  }

  /**
   * Records a granted filter, or says which limit refuses it (nothing recorded). `owner`: the
   * client's credential, when held to MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL.
   */
  admit(client: Client, sub: Subscription, many = false, owner?: string): GrantRefusal | undefined {
    let h = this.held.get(client);
    if (!h) {
      // Aedes subscribes nothing for a client already closing; counting it would hold places nobody frees.
      if (client.closed) return undefined;
      this.held.set(client, (h = { filters: new Map(), unstored: [], minQos: 2, owner, inTotal: many }));
      // Its filters' places come free when it leaves (a persistent session's stored filters count as away, away-sessions.ts).
      (client.conn as EventEmitter | undefined)?.once?.('close', () => this.left(client));
    }
    const max = this.limit(many);
    if (!h.filters.has(sub.topic)) {
      if (max > 0 && h.filters.size >= max) return { reason: 'too_many_subscriptions', detail: `${h.filters.size} filters held, the limit is ${max} (${many ? 'MQTT_MAX_SUBSCRIPTIONS_MANY' : 'MQTT_MAX_SUBSCRIPTIONS'})` };
      const refused = this.places.take(h.owner, h.inTotal);
      if (refused) return refused;
    }
    const previous = h.filters.get(sub.topic);
    h.filters.set(sub.topic, sub.qos);
    // O(1) but when the filter that held the lowest QoS is granted a higher one.
    h.minQos = previous === h.minQos && sub.qos > previous ? lowest(h.filters) : Math.min(h.minQos, sub.qos);
    if (!client.clean) h.unstored.push(sub);
    return undefined;
  }

  /** The client left: its filters' places come free. */
  private left(client: Client): void {
    const h = this.held.get(client);
    if (!h) return;
    this.held.delete(client);
    this.places.release(h.owner, h.filters.size, h.inTotal);
  }

  /** How many filters the client holds. */
  count(client: Client): number {
    return this.held.get(client)?.filters.size ?? 0;
  }

  removed(client: Client, filters: readonly string[]): void {
    const h = this.held.get(client);
    if (!h) return;
    let freed = 0;
    for (const f of filters) if (h.filters.delete(f)) freed++;
    this.places.release(h.owner, freed, h.inTotal);
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
