import { GatewayError, logWarn } from '../core/errors.js';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Aedes, AedesOptions, AuthenticateError, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import { anonymousPrincipal, canPublish, canSubscribe, clientIdAllowed, principalOf, type NativeTopics, type Principal } from './acl.js';
import { nativeHintOf } from './native-acl.js';
import type { ConnectionGuard } from './broker.js';
import type { CredentialStore, Role } from './credentials.js';
import { FrameScanner, LoginBackoff, TokenBucket, topicProblem, type Now, type TopicLimits } from './limits.js';
import { RefusalReporter, type RefusalReason } from './refusals.js';

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
  readonly maxPacketBytes: number;
  readonly topics: TopicLimits;
  /** Publishes per second per client (0 = no limit), and the burst allowed above it. */
  readonly publishRate: number;
  readonly publishBurst: number;
  readonly loginBackoffAfter: number;
  readonly loginBackoffMaxMs: number;
  /** Discovery prefix and Zigbee2MQTT base topic: where bridge and native credentials may publish. */
  readonly nativeTopics?: NativeTopics;
  readonly now?: Now;
}

type Hooks = Required<Pick<AedesOptions, 'authenticate' | 'authorizeSubscribe'>>;

/** An error this file made to refuse a client: already counted and logged, so not counted again as a protocol error. */
class Refusal extends GatewayError {
  constructor(
    message: string,
    readonly returnCode?: AuthenticateError['returnCode'],
  ) {
    super(returnCode === undefined ? 'GW_ERR_ACCESS' : 'GW_ERR_AUTH', message);
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;

/**
 * Identity, access control and limits for the broker: builds the Aedes hooks from the
 * credentials (credentials.ts), the role rules (acl.ts) and the limits (limits.ts), and
 * guards every connection. Every refusal is counted in `gateway_refusals_total{reason}` and
 * logged with its reason (refusals.ts).
 */
export class Access implements ConnectionGuard {
  private readonly principals = new WeakMap<Client, Principal>();
  private readonly buckets = new WeakMap<Client, TokenBucket>();
  private readonly addresses = new WeakMap<Duplex, string>();
  private readonly open = new Set<Duplex>();
  /** Failed logins per address and username, and (with a higher threshold) per address. */
  private readonly backoffUser: LoginBackoff;
  private readonly backoffAddress: LoginBackoff;
  private readonly report: RefusalReporter;
  private readonly throttleLogged = new WeakSet<Client>();
  /** Decided once, at start: the sockets stay bound there even if credentials come and go. */
  private boundHost: string | undefined;

  constructor(private readonly o: AccessOptions) {
    this.backoffUser = new LoginBackoff(o.loginBackoffAfter, o.loginBackoffMaxMs, o.now);
    // A whole building behind one NAT address must not be locked out by one misconfigured device.
    this.backoffAddress = new LoginBackoff(o.loginBackoffAfter * 4, o.loginBackoffMaxMs, o.now);
    this.report = new RefusalReporter(o.metrics, o.log, o.now);
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

  /** Whether any credential exists (then actions need authentication, over HTTP too). */
  hasCredentials(): boolean {
    return this.o.store.size > 0;
  }

  anonymousAllowed(): boolean {
    if (this.o.allowAnonymous !== 'auto') return this.o.allowAnonymous === 'true';
    return this.o.store.size === 0 && LOOPBACK.test(this.host);
  }

  readonly hooks: Hooks = {
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
      if (decision.ok) {
        callback(null, sub);
        return;
      }
      this.report.refuse(limit?.reason ?? 'subscribe_denied', { clientId: client.id, username: p?.name, topic: sub.topic, address: this.addressOf(client) }, decision.why);
      // A null subscription is a SUBACK failure (0x80) for that filter; the client stays connected.
      callback(null, null);
    },
  };

  /** The check before a publish reaches ingest; an Error refuses it (Aedes then disconnects the client). */
  checkPublish(client: Client | null, packet: PublishPacket): Error | null {
    // No client: a will Aedes replays from a broker that went away; the gateway's own.
    if (!client) return null;
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
    if (!client || this.o.publishRate <= 0 || client.closed) {
      accept();
      return;
    }
    let bucket = this.buckets.get(client);
    if (!bucket) this.buckets.set(client, (bucket = new TokenBucket(this.o.publishRate, Math.max(1, this.o.publishBurst), this.o.now)));
    const waitMs = bucket.reserve();
    if (waitMs === 0) {
      accept();
      return;
    }
    this.o.metrics.throttled.inc();
    if (!this.throttleLogged.has(client)) {
      this.throttleLogged.add(client);
      logWarn(this.o.log, 'GW_ERR_LIMIT', { reason: 'publish_rate', clientId: client.id, rate: this.o.publishRate, burst: this.o.publishBurst }, 'client publishes faster than PUBLISH_RATE: its publishes are slowed (not dropped)');
    }
    setTimeout(accept, waitMs);
  }

  // ConnectionGuard: the connection limit and the packet-size scanner, before MQTT is parsed.
  admit(conn: Duplex, req?: IncomingMessage): boolean {
    const address = req?.socket.remoteAddress ?? (conn as Socket).remoteAddress ?? 'unknown';
    if (this.o.maxConnections > 0 && this.open.size >= this.o.maxConnections) {
      this.report.refuse('max_connections', { address }, `${this.open.size} connections open, the limit is ${this.o.maxConnections} (MAX_CONNECTIONS)`);
      return false;
    }
    this.addresses.set(conn, address);
    this.open.add(conn);
    conn.once('close', () => this.open.delete(conn));
    return true;
  }

  watch(conn: Duplex): void {
    if (this.o.maxPacketBytes <= 0) return;
    const scanner = new FrameScanner(this.o.maxPacketBytes);
    // With Aedes' 'readable' listener in charge, 'data' only reports what Aedes reads: no copy, no change of flow.
    const onData = (chunk: Buffer): void => {
      const problem = scanner.push(chunk);
      if (!problem) return;
      conn.off('data', onData);
      this.report.refuse(problem.startsWith('malformed') ? 'malformed_packet' : 'packet_too_large', { address: this.addresses.get(conn) }, problem);
      conn.destroy();
    };
    conn.on('data', onData);
  }

  closeAll(): void {
    for (const conn of this.open) conn.destroy();
  }

  /** Counts the errors Aedes reports for clients that broke the protocol (not socket resets, not our own refusals). */
  observe(aedes: Aedes): void {
    const onError = (client: Client | null, err: Error & { code?: string }): void => {
      if (err instanceof Refusal || (err as { errorCode?: number }).errorCode !== undefined) return;
      const fields = { clientId: client?.id, address: client ? this.addressOf(client) : undefined };
      // The WebSocket layer refuses a message over its maxPayload (MAX_PACKET_BYTES) itself.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return this.report.refuse('packet_too_large', fields, `WebSocket message over MAX_PACKET_BYTES (${this.o.maxPacketBytes})`);
      if (err.code?.startsWith('WS_ERR_')) return this.report.refuse('protocol_error', fields, err.message);
      // Socket errors (ECONNRESET, EPIPE, …) and keep-alive timeouts are the network's, not the client's doing.
      if (err.code !== undefined || err.message === 'keep alive timeout') return;
      this.report.refuse('protocol_error', fields, err.message);
    };
    aedes.on('clientError', onError);
    aedes.on('connectionError', onError);
  }

  onTlsError(err: Error, address: string | undefined): void {
    this.report.refuse('tls_handshake', { address }, err.message);
  }

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<Refusal | undefined> {
    const address = this.addressOf(client);
    const user = username ?? '';
    const userKey = `${address}|${user}`;
    const fields = { clientId: client.id, username: user || undefined, address };
    const refuse = (reason: RefusalReason, returnCode: AuthenticateError['returnCode'], why: string): Refusal => {
      this.report.refuse(reason, fields, why);
      return new Refusal(why, returnCode);
    };
    const locked = Math.max(this.backoffUser.lockedFor(userKey), this.backoffAddress.lockedFor(address));
    if (locked > 0) return refuse('login_backoff', 5, `too many failed logins from ${address}: refused for ${Math.ceil(locked / 1000)} s more`);
    await this.o.store.refresh();

    let principal: Principal;
    if (this.o.store.size === 0 || !user) {
      // With no credentials at all, a username is ignored (as Mosquitto does without a password file).
      if (!this.anonymousAllowed()) return refuse('anonymous_refused', 5, user ? `no credentials are configured (${this.o.store.path})` : 'anonymous clients are refused: connect with a username and password');
      principal = anonymousPrincipal(this.o.anonymousRole);
    } else {
      const credential = await this.o.store.verify(user, password ?? Buffer.alloc(0));
      if (!credential) {
        this.backoffUser.failed(userKey);
        this.backoffAddress.failed(address);
        return refuse('bad_credentials', 4, this.o.store.get(user) ? 'wrong password' : 'unknown username');
      }
      principal = principalOf(credential, this.o.nativeTopics);
    }
    const idCheck = clientIdAllowed(principal, client.id, (id) => this.o.store.hasDevice(id));
    if (!idCheck.ok) return refuse('client_id_mismatch', 2, idCheck.why);
    this.backoffUser.succeeded(userKey);
    this.principals.set(client, principal);
    this.o.log.debug({ clientId: client.id, username: principal.name, role: principal.role, address }, 'client authenticated');
    return undefined;
  }

  private addressOf(client: Client): string {
    return this.addresses.get(client.conn) ?? client.req?.socket.remoteAddress ?? (client.conn as Socket).remoteAddress ?? 'unknown';
  }
}
