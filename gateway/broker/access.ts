import { LOOPBACK } from '../core/loopback.js';
import { logWarn } from '../core/errors.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Aedes, AedesOptions, AuthenticateError, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import { anonymousPrincipal, canPublish, canSubscribe, clientIdAllowed, principalOf, whyDenied, type NativeTopics, type Principal } from './acl.js';
import { nativeHintOf } from './native-acl.js';
import type { ConnectionGuard } from './broker.js';
import type { CredentialStore, Role } from './credentials.js';
import { TokenBucket, topicProblem, type Now, type TopicLimits } from './limits.js';
import { clientErrorRefusal, Refusal } from './client-errors.js';
import { ClientIds, limitedPerCredential } from './client-ids.js';
import { ConnectionGate } from './connection-gate.js';
import { LoginGuard } from './login.js';
import { RefusalReporter, type RefusalReason } from './refusals.js';
import { HeldSubscriptions } from './held-subscriptions.js';
import { SubscriptionLedger, speaksForMany } from './subscriptions.js';

export interface AccessOptions {
  readonly store: CredentialStore;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** auto: anonymous clients only while no credentials exist and the broker listens on loopback. */
  readonly allowAnonymous: 'auto' | 'true' | 'false';
  readonly anonymousRole: Role;
  /** BIND_HOST as set ('' = decided here from whether credentials exist). */
  readonly bindHost: string;
  readonly maxConnections: number;
  /** Authenticated clients of one credential, admins excepted (0 = no limit; default: none). */
  readonly maxConnectionsPerCredential?: number;
  readonly maxPacketBytes: number;
  /** A bridge credential's largest packet (MAX_BRIDGE_PACKET_BYTES): Zigbee2MQTT's bridge/devices lists every device. */
  readonly maxBridgePacketBytes?: number;
  readonly topics: TopicLimits;
  /** Publishes per second per client (0 = no limit), and the burst allowed above it. */
  readonly publishRate: number;
  readonly publishBurst: number;
  readonly loginBackoffAfter: number;
  readonly loginBackoffMaxMs: number;
  /** Discovery prefix and Zigbee2MQTT base topic: where bridge and native credentials may publish. */
  readonly nativeTopics?: NativeTopics;
  /** Unknown usernames per address (burst, then per minute) and secret checks waiting; defaults as the settings'. */
  readonly loginUnknownUserBurst?: number;
  readonly loginUnknownUserPerMin?: number;
  readonly loginMaxQueuedChecks?: number;
  /** Connections not yet authenticated, in all and per address (0 = no limit; default: none). */
  readonly maxPendingConnections?: number;
  readonly maxPendingPerAddress?: number;
  /** A WebSocket listener's socket that has not sent its CONNECT this long after it opened is closed, ms (0 = none; plain sockets: Aedes' connectTimeout). */
  readonly connectTimeoutMs?: number;
  /** Filters per client, per client that speaks for many devices (admin, observer, bridge), per credential over its clients, in all (0 = no limit; default: none). */
  readonly maxSubscriptions?: { readonly one: number; readonly many: number; readonly perCredential?: number; readonly total?: number };
  readonly now?: Now;
}

type Hooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizeSubscribe'>>;

const LOGIN_CODES = { bad_credentials: 4, login_backoff: 5, login_overloaded: 3 } as const satisfies Record<string, AuthenticateError['returnCode']>;

/**
 * Identity, access control and limits for the broker: builds the Aedes hooks from the
 * credentials (credentials.ts), the role rules (acl.ts) and the limits (limits.ts), and
 * guards every connection. Every refusal is counted in `gateway_refusals_total{reason}` and
 * logged with its reason (refusals.ts).
 */
export class Access implements ConnectionGuard {
  private readonly principals = new WeakMap<Client, Principal>();
  private readonly buckets = new WeakMap<Client, TokenBucket>();
  private readonly gate: ConnectionGate;
  /** CONNECTs with an empty client id: with clean session 0, refused [MQTT-3.1.3-8]; with 1, the id is the broker's. */
  private readonly emptyId = new WeakMap<Client, boolean>();
  /** The will a CONNECT carries, checked as a publish of the client's once it is known (Mosquitto does too). */
  private readonly wills = new WeakMap<Client, string>();
  /** Clients cut by the gateway (slow subscribers): what Aedes reports of them afterwards is no news. */
  private readonly cut = new WeakSet<Client>();
  readonly login: LoginGuard;
  readonly subscriptions: SubscriptionLedger;
  private readonly report: RefusalReporter;
  private readonly throttleLogged = new WeakSet<Client>();
  /** Which credential holds each client id, and each credential's connections. */
  readonly ids: ClientIds;
  /** Decided once, at start: the sockets stay bound there even if credentials come and go. */
  private boundHost: string | undefined;

  constructor(private readonly o: AccessOptions) {
    const unknownUsers = { unknownBurst: o.loginUnknownUserBurst ?? 20, unknownPerMin: o.loginUnknownUserPerMin ?? 6, maxQueuedChecks: o.loginMaxQueuedChecks ?? 64 };
    this.login = new LoginGuard({ store: o.store, backoffAfter: o.loginBackoffAfter, backoffMaxMs: o.loginBackoffMaxMs, ...unknownUsers, now: o.now });
    const s = o.maxSubscriptions;
    this.subscriptions = new SubscriptionLedger(s?.one ?? 0, s?.many ?? 0, new HeldSubscriptions(s?.perCredential ?? 0, s?.total ?? 0));
    this.report = new RefusalReporter(o.metrics, o.log, o.now);
    this.ids = new ClientIds({ maxConnections: o.maxConnections, maxPerCredential: o.maxConnectionsPerCredential ?? 0, credentialExists: (name) => o.store.get(name) !== undefined });
    this.gate = new ConnectionGate({ report: this.report, maxPacketBytes: o.maxPacketBytes, maxPendingConnections: o.maxPendingConnections ?? 0, maxPendingPerAddress: o.maxPendingPerAddress ?? 0, connectTimeoutMs: o.connectTimeoutMs ?? 0 });
    o.metrics.readFrom('pendingConnections', () => this.gate.pendingCount);
  }

  /** Who a connected client is (undefined before it authenticated). */
  principal(client: Client): Principal | undefined {
    return this.principals.get(client);
  }

  readonly roleOf = (name: string): Role | undefined => this.o.store.get(name)?.role; // a credential's, by name: which retained budget (retained.ts)

  /** Counts and logs a refusal of the broker's own making (persistence, delivery). */
  refuse(reason: RefusalReason, client: Client | null, detail: string, topic?: string): void {
    const p = client ? this.principals.get(client) : undefined;
    this.report.refuse(reason, { clientId: client?.id, username: p?.name, address: client ? this.addressOf(client) : undefined, topic }, detail);
  }

  /** Disconnects a subscriber that fell too far behind, once, counted as slow_subscriber. */
  cutSlow(client: Client, detail: string): void {
    if (this.cut.has(client)) return;
    this.cut.add(client);
    this.refuse('slow_subscriber', client, detail);
    client.conn.destroy(new Refusal(detail));
  }

  isCut(client: Client): boolean {
    return this.cut.has(client);
  }

  /** Loads the credentials (GW_ERR_CREDENTIALS when the file is invalid). */
  async start(): Promise<void> {
    await this.o.store.load();
    this.boundHost = this.o.bindHost || (this.o.store.size > 0 ? '0.0.0.0' : '127.0.0.1');
    if (!this.anonymousAllowed() && this.o.store.size === 0) {
      logWarn(this.o.log, 'GW_ERR_AUTH', { host: this.host }, `no credentials in ${this.o.store.path} and anonymous clients are refused: no client can connect. Add one with \`npm run credentials -- add <name> --role …\`, or set MQTT_ALLOW_ANONYMOUS=true`);
    }
  }

  /** Where to listen: BIND_HOST, else loopback with no credentials (Mosquitto 2's default) and every interface with some. */
  get host(): string {
    if (this.boundHost === undefined) throw new Error('Access not started');
    return this.boundHost;
  }

  anonymousAllowed(): boolean {
    if (this.o.allowAnonymous !== 'auto') return this.o.allowAnonymous === 'true';
    return this.o.store.size === 0 && LOOPBACK.test(this.host);
  }

  readonly hooks: Hooks = {
    preConnect: (client, packet, callback) => {
      this.gate.connectArrived(client.conn);
      if (packet.clientId === '') this.emptyId.set(client, !packet.clean);
      if (packet.will) this.wills.set(client, packet.will.topic);
      callback(null, true);
    },
    authenticate: (client, username, password, done) => {
      this.authenticate(client, username, password).then(
        (refusal) => (refusal ? done(refusal as AuthenticateError, false) : done(null, true)),
        (err: unknown) => {
          this.o.log.error({ err, clientId: client.id }, 'authentication failed unexpectedly; client refused');
          done(Object.assign(new Refusal('server unavailable'), { returnCode: 3 }), false);
        },
      );
    },
    authorizeSubscribe: (client, sub, callback) => {
      const p = this.principals.get(client);
      const limit = topicProblem(sub.topic, this.o.topics);
      const decision = limit ? { ok: false as const, why: limit.detail } : p ? canSubscribe(p, sub.topic) : { ok: false as const, why: 'not authenticated' };
      // Allowed, then within MQTT_MAX_SUBSCRIPTIONS(_MANY) per client, _PER_CREDENTIAL over a credential's clients and _TOTAL.
      const refused: { reason: RefusalReason; detail: string } | undefined = decision.ok
        ? this.subscriptions.admit(client, sub, speaksForMany(p?.role), p && limitedPerCredential(p) ? p.name : undefined)
        : { reason: limit?.reason ?? 'subscribe_denied', detail: decision.why };
      if (!refused) return callback(null, sub);
      this.refuse(refused.reason, client, refused.detail, sub.topic);
      // A null subscription is a SUBACK failure (0x80) for that filter; the client stays connected.
      callback(null, null);
    },
  };

  /** The check before a publish reaches ingest; an Error refuses it (Aedes then disconnects the client). */
  checkPublish(client: Client | null, packet: PublishPacket): Error | null {
    // No client: a will Aedes replays from a broker that went away (checked at its CONNECT), or the
    // gateway's own. A `$` topic is the gateway's memory (`$gateway/`), no client's will's.
    if (!client) return packet.topic.startsWith('$') ? new Refusal(`will to ${packet.topic} refused: $ topics are reserved for the broker`) : null;
    const p = this.principals.get(client);
    const limit = topicProblem(packet.topic, this.o.topics);
    const decision = limit ? { ok: false as const, why: limit.detail } : p ? canPublish(p, packet.topic) : { ok: false as const, why: 'not authenticated' };
    if (decision.ok) return null;
    this.report.refuse(limit?.reason ?? 'publish_denied', { clientId: client.id, username: p?.name, topic: packet.topic, address: this.addressOf(client) }, decision.why);
    return new Refusal(`publish to ${packet.topic} refused: ${decision.why}`);
  }

  /** What the client's credential says of native devices (a bridge, a native device), for ingest. */
  nativeHint(client: Client | null): ReturnType<typeof nativeHintOf> {
    return client ? nativeHintOf(this.principals.get(client)) : undefined;
  }

  /**
   * Runs `accept` once the client's token bucket allows (at once, mostly). Holding the publish
   * holds the client's socket, so a fast publisher is slowed, never dropped.
   */
  throttle(client: Client | null, accept: () => void): void {
    if (!client || this.o.publishRate <= 0 || client.closed) return accept();
    let bucket = this.buckets.get(client);
    if (!bucket) this.buckets.set(client, (bucket = new TokenBucket(this.o.publishRate, Math.max(1, this.o.publishBurst), this.o.now)));
    const waitMs = bucket.reserve();
    if (waitMs === 0) return accept();
    this.o.metrics.throttled.inc();
    if (!this.throttleLogged.has(client)) {
      this.throttleLogged.add(client);
      logWarn(this.o.log, 'GW_ERR_LIMIT', { reason: 'publish_rate', clientId: client.id, rate: this.o.publishRate, burst: this.o.publishBurst }, 'client publishes faster than PUBLISH_RATE: its publishes are slowed (not dropped)');
    }
    setTimeout(accept, waitMs);
  }

  // ConnectionGuard: the socket-level caps live in the gate.
  admit(conn: Duplex, upgrade?: boolean): boolean {
    return this.gate.admit(conn, upgrade);
  }

  watch(conn: Duplex, req?: IncomingMessage): void {
    this.gate.watch(conn, req);
  }

  closeAll(): void {
    this.gate.closeAll();
  }

  /** Counts the errors Aedes reports for clients that broke the protocol (not socket resets, not our own refusals). */
  observe(aedes: Aedes): void {
    this.ids.observe(aedes);
    // An UNSUBSCRIBE frees its filters' places under MQTT_MAX_SUBSCRIPTIONS.
    aedes.on('unsubscribe', (filters: string[], client: Client) => this.subscriptions.removed(client, filters));
    const onError = (client: Client | null, err: Error & { code?: string }): void => {
      // What follows a cut (writes failing on the closed socket) is its consequence, not news.
      if (client && this.cut.has(client)) return;
      const refusal = clientErrorRefusal(err, this.o.maxPacketBytes);
      if (!refusal) return;
      // A WebSocket's deadline is the gate's, from its socket's first moment; Aedes' is later and would count it twice.
      if (refusal.reason === 'connect_timeout' && client && this.gate.keepsDeadline(client.conn)) return;
      // A drain timeout with no client is Aedes' own; only a client can be cut.
      if (refusal.cut && !client) return;
      if (refusal.cut && client) this.cut.add(client);
      this.report.refuse(refusal.reason, { clientId: client?.id, address: client ? this.addressOf(client) : undefined }, refusal.detail);
    };
    aedes.on('clientError', onError);
    aedes.on('connectionError', onError);
  }

  /** A socket refused before any MQTT: a failed TLS handshake, a WebSocket from a web page elsewhere (ws-origin.ts). */
  refuseSocket(reason: 'tls_handshake' | 'cross_origin', address: string | undefined, why: string): void {
    this.report.refuse(reason, { address }, why);
  }

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<Refusal | undefined> {
    const address = this.addressOf(client);
    const user = username ?? '';
    const fields = { clientId: client.id, username: user || undefined, address };
    const refuse = (reason: RefusalReason, returnCode: AuthenticateError['returnCode'], why: string): Refusal => {
      this.report.refuse(reason, fields, why);
      return new Refusal(why, returnCode);
    };
    const emptyId = this.emptyId.get(client);
    // [MQTT-3.1.3-8]: CONNACK 2 before any session state is touched (Aedes would make up an id).
    if (emptyId === true) return refuse('client_id_mismatch', 2, 'an empty client id needs clean session 1 (MQTT 3.1.1, 3.1.3-8)');
    await this.o.store.refresh();

    let principal: Principal;
    if (this.o.store.size === 0 || !user) {
      // With no credentials at all, a username is ignored (as Mosquitto does without a password file).
      if (!this.anonymousAllowed()) return refuse('anonymous_refused', 5, user ? `no credentials are configured (${this.o.store.path})` : 'anonymous clients are refused: connect with a username and password');
      principal = anonymousPrincipal(this.o.anonymousRole);
    } else {
      const result = await this.login.check(address, user, password ?? Buffer.alloc(0));
      if (!result.ok) return refuse(result.reason, LOGIN_CODES[result.reason], result.why);
      principal = principalOf(result.credential, this.o.nativeTopics);
    }
    // An id the broker made up (empty id, clean session) is random: nobody's.
    if (emptyId === undefined) {
      const idCheck = clientIdAllowed(principal, client.id, (id) => this.o.store.reservedBy(id));
      if (!idCheck.ok) return refuse('client_id_mismatch', 2, idCheck.why);
    }
    // An id another credential holds (connected, or a session it left), MAX_CONNECTIONS, the credential's own limit.
    const held = this.ids.refusal(principal, client.id, this.gate.authenticatedCount);
    if (held) return refuse(held.reason, held.code, held.why);
    // Else a will is a publish nobody checks: sent with client null after a crash, or in a cluster.
    const will = this.wills.get(client);
    const willWhy = will === undefined ? undefined : (topicProblem(will, this.o.topics)?.detail ?? whyDenied(canPublish(principal, will)));
    if (willWhy !== undefined) return refuse('will_denied', 5, `its will to ${will} is refused: ${willWhy}`);
    const bridge = principal.role === 'bridge' && this.o.maxPacketBytes > 0 && (this.o.maxBridgePacketBytes ?? 0) > this.o.maxPacketBytes;
    this.gate.authenticated(client.conn, bridge ? { bytes: this.o.maxBridgePacketBytes!, setting: 'MAX_BRIDGE_PACKET_BYTES' } : undefined);
    this.principals.set(client, principal);
    this.ids.claim(principal, client.id, client.conn, !client.clean);
    this.o.log.debug({ clientId: client.id, username: principal.name, role: principal.role, address }, 'client authenticated');
    return undefined;
  }

  private addressOf(client: Client): string {
    return this.gate.addressOf(client.conn) ?? client.req?.socket.remoteAddress ?? (client.conn as Socket).remoteAddress ?? 'unknown';
  }
}
