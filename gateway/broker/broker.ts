import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { GatewayError, logWarn } from '../core/errors.js';
import { listenOn } from '../core/listen.js';
import { LogLimiter } from '../observability/log.js';
import type { ClusterBus } from './cluster-bus.js';
import { trackWebSocket } from './delivery.js';
import { connectedIds } from './memory-store.js';
import { createMessageBus } from './queue.js';
import { numberAsSent, sendInOrder } from './sent-order.js';
import { webSocketRefusal } from './ws-origin.js';

export type BrokerHooks = Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>;

export interface BrokerOptions {
  readonly log: Logger;
  readonly host: string;
  readonly mqttPort: number;
  readonly wsPort: number;
  readonly hooks: BrokerHooks;
  /** Servers for TLS listeners, made by the caller (see broker/tls.ts); handed every connection. */
  readonly extraServers?: readonly { readonly name: string; readonly server: NetServer | HttpServer; readonly port: number; readonly ws?: boolean }[];
  /** Sees every connection before Aedes does (limits, see broker/access.ts). */
  readonly guard?: ConnectionGuard;
  /** Largest WebSocket message accepted (ws buffers a whole message before handing it on). */
  readonly wsMaxPayload?: number;
  /** Aedes' persistence (broker/persistence.ts); its memory store when absent. */
  readonly persistence?: unknown;
  /** A connection's CONNECT deadline (and the WebSocket upgrade's), ms. */
  readonly connectTimeoutMs?: number;
  /** How long a write may wait for a client to drain before it is cut, ms. */
  readonly drainTimeoutMs?: number;
  /** Bytes a connection buffers before a write reports it full (MQTT_MAX_CLIENT_BUFFER_BYTES; Node's default: 16 KiB). */
  readonly writeBufferBytes?: number;
  /** Aedes' own per-connection cap on unreleased QoS 2 (a backstop of the persistence's per-client one). */
  readonly maxInflightQos2?: number;
  /** One broker of a cluster (REDIS_URL): Aedes' bus on Redis (its persistence, bounded, is `persistence`) (broker/cluster-bus.ts). */
  readonly cluster?: { readonly bus: ClusterBus; readonly heartbeatMs: number };
}

export interface ConnectionGuard {
  /**
   * False refuses the connection (it is then destroyed). `upgrade`: a WebSocket listener's socket,
   * admitted before its HTTP upgrade; the guard's own CONNECT deadline then covers the upgrade.
   */
  admit(conn: Duplex, upgrade?: boolean): boolean;
  /** Called once Aedes has the connection (over a WebSocket: `req.socket` is the socket admitted). */
  watch(conn: Duplex, req?: IncomingMessage): void;
  /** Closes what is still open at stop (connections that never sent CONNECT). */
  closeAll(): void;
  /** Anonymous clients are admitted now (a WebSocket from a web page elsewhere is then refused: ws-origin.ts). */
  anonymousAllowed?(): boolean;
  /** Counts and logs a socket refused before any MQTT (a cross-origin WebSocket upgrade). */
  refuseSocket?(reason: 'cross_origin', address: string | undefined, why: string): void;
}

export interface BoundPorts {
  readonly mqtt: number;
  readonly ws: number;
  readonly [name: string]: number;
}

/** Publishes on behalf of the gateway (commands, alerts, dead letters). */
export interface Publisher {
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
}

/**
 * The embedded Aedes broker on TCP and on WebSocket (`/mqtt`). The hooks (identity, access,
 * ingest) are the caller's; this file only owns sockets and their lifecycle.
 */
export class MqttBroker implements Publisher {
  readonly aedes: Aedes;
  private readonly tcp: NetServer;
  private readonly http: HttpServer;
  private readonly wss: WebSocketServer;
  private readonly extraWss: WebSocketServer[] = [];
  private ports: BoundPorts | undefined;
  private intakeStopped: Promise<void> | undefined;
  /** Aedes' persistence was set up (its snapshot read). */
  private listened = false;
  private stopped = false;

  constructor(private readonly options: BrokerOptions) {
    const { connectTimeoutMs, drainTimeoutMs, maxInflightQos2, cluster } = options;
    this.aedes = new Aedes({
      ...options.hooks,
      drainTimeout: drainTimeoutMs ?? 10_000,
      ...(connectTimeoutMs ? { connectTimeout: connectTimeoutMs } : {}),
      // 0 too (no limit): past Aedes' default of 1000, it would refuse a message the pipeline admitted (incoming-qos2.ts).
      ...(maxInflightQos2 !== undefined ? { maxInflightInbound: maxInflightQos2 } : {}),
      ...(options.persistence ? { persistence: options.persistence } : {}),
      // One node: the in-process deque bus, with a margin over the slots a few slow clients may hold
      // at once (each holds at most the one write that crossed its bound). A cluster: Redis, with a
      // short heartbeat so a dead node's wills are published by another within seconds (3 heartbeats), not minutes.
      ...(cluster ? { mq: cluster.bus.mq, id: cluster.bus.brokerId, heartbeatInterval: cluster.heartbeatMs } : { mq: createMessageBus(1000) }),
    });
    numberAsSent(this.aedes);
    sendInOrder(this.aedes);
    this.tcp = createNetServer((conn) => this.handle(conn));
    this.http = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
    });
    if (connectTimeoutMs) {
      // A socket that never finishes its upgrade request is closed by the same deadline as a CONNECT.
      this.http.headersTimeout = connectTimeoutMs;
      this.http.requestTimeout = connectTimeoutMs;
    }
    this.wss = this.webSocketServer(this.http, 'connection');
    for (const extra of options.extraServers ?? []) {
      if (extra.ws) this.extraWss.push(this.webSocketServer(extra.server as HttpServer, extra.server instanceof TlsServer ? 'secureConnection' : 'connection'));
      else extra.server.on(extra.server instanceof TlsServer ? 'secureConnection' : 'connection', (conn: Duplex) => this.handle(conn));
    }
    this.aedes.on('clientError', (client: Client, err: Error) => options.log.debug({ clientId: client.id, err: err.message }, 'client error'));
    // A cluster's Aedes reports Redis failures (publishing a dead node's wills, queueing for sessions away) as
    // 'error', named by its persistence (StoreUnavailableError): said with their code, once a minute per code during an outage.
    const brokerErrors = new LogLimiter(options.log, 1, 60_000);
    (this.aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => {
      if (!(err instanceof GatewayError)) return void options.log.warn({ err: err.message }, 'broker error');
      if (brokerErrors.allow(err.code)) logWarn(options.log, err.code, { err: err.message }, 'broker error');
    });
    this.aedes.on('connectionError', (client: Client, err: Error) => options.log.debug({ clientId: client?.id, err: err.message }, 'connection error'));
  }

  /** `accepted`: the event that hands over a socket before its upgrade request (after the TLS handshake, for wss). */
  private webSocketServer(server: HttpServer, accepted: 'connection' | 'secureConnection'): WebSocketServer {
    const { guard } = this.options;
    // The guard sees the socket, not the stream after the upgrade: the pending limits and the
    // CONNECT deadline cover a socket that never finishes (or never starts) its upgrade.
    if (guard) server.on(accepted, (socket: Duplex) => (guard.admit(socket, true) ? undefined : socket.destroy()));
    // MQTT over WebSocket is the `mqtt` subprotocol (MQTT 3.1.1, 6.0; `mqttv3.1` for 3.1): another one is not agreed to.
    const handleProtocols = (offered: Set<string>): string | false => (offered.has('mqtt') ? 'mqtt' : offered.has('mqttv3.1') ? 'mqttv3.1' : false);
    const verifyClient = ({ req }: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void): void => {
      const why = webSocketRefusal(req, guard?.anonymousAllowed?.() ?? false);
      if (why) guard?.refuseSocket?.('cross_origin', req.socket.remoteAddress, why);
      done(why === undefined, 403, 'Forbidden');
    };
    const wss = new WebSocketServer({ server, path: '/mqtt', handleProtocols, verifyClient, ...(this.options.wsMaxPayload ? { maxPayload: this.options.wsMaxPayload } : {}) });
    // ws re-emits its HTTP server's errors (a port in use): listenOn reports those as GW_ERR_LISTEN.
    wss.on('error', () => undefined);
    wss.on('connection', (socket, req) => {
      const writeBufferBytes = this.options.writeBufferBytes;
      const stream = createWebSocketStream(socket, writeBufferBytes ? { writableHighWaterMark: writeBufferBytes } : {});
      trackWebSocket(stream, socket);
      stream.on('error', () => socket.terminate());
      this.handle(stream, req);
    });
    return wss;
  }

  /** `req`: the upgrade request of a WebSocket, whose socket the guard admitted already. */
  private handle(conn: Duplex, req?: IncomingMessage): void {
    const { guard } = this.options;
    if (guard && !req && !guard.admit(conn)) {
      conn.destroy();
      return;
    }
    if (this.options.writeBufferBytes && !req) setWriteBuffer(conn, this.options.writeBufferBytes);
    this.aedes.handle(conn, req);
    guard?.watch(conn, req);
  }

  get connectedClients(): number {
    // Aedes counts from its listen(): before it (the start's rebuild) it has no count at all.
    return this.aedes.connectedClients ?? 0;
  }

  /** Aedes' persistence set up (a single gateway's snapshot read, its retained messages back), before any listener opens. */
  restore(): Promise<void> {
    // Once, whoever asks first (relearn, then start): two listens would read the snapshot twice.
    this.restoring ??= this.aedes.listen().then(() => void (this.listened = true));
    return this.restoring;
  }
  private restoring: Promise<void> | undefined;

  /** The retained messages on these filters, as the persistence holds them (after `restore`). */
  async *retained(filters: string[]): AsyncIterable<{ topic: string; payload: Buffer }> {
    const stream = (this.aedes as unknown as { persistence: { createRetainedStreamCombi(f: string[]): AsyncIterable<PublishPacket> } }).persistence.createRetainedStreamCombi(filters);
    for await (const p of stream) if (p.payload && p.payload.length > 0) yield { topic: p.topic, payload: Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload) };
  }

  async start(): Promise<BoundPorts> {
    await this.restore();
    const { host, mqttPort, wsPort, log } = this.options;
    const mqtt = await listenOn(this.tcp, host, mqttPort, 'MQTT_PORT');
    const ws = await listenOn(this.http, host, wsPort, 'MQTT_WS_PORT');
    const ports: Record<string, number> = { mqtt, ws };
    for (const extra of this.options.extraServers ?? []) {
      ports[extra.name] = await listenOn(extra.server, host, extra.port, extra.name);
    }
    this.ports = ports as unknown as BoundPorts;
    log.info({ host, ports }, 'MQTT broker listening');
    return this.ports;
  }

  /**
   * Published once Aedes' persistence is set up (restored first when not yet): the rules go live
   * (resends fallen due, held-back commands, alarms) before the broker listens, and a message
   * published then is queued for the persistent sessions away, not thrown by Aedes.
   */
  async publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    if (!this.listened) {
      // A stopped broker that never listened is not reopened (its heartbeat would keep the process up).
      if (this.stopped) throw new Error('the broker stopped before it listened');
      await this.restore();
    }
    const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false } as PublishPacket;
    return new Promise((resolve, reject) => this.aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Stops the intake: the listeners close and every client is disconnected (their wills
   * published), but Aedes stays open, so what the gateway still decides (the rules finishing
   * their queue, commands waiting for the spool) is delivered or queued for persistent sessions
   * away, and so kept in the last snapshot (`stop`).
   */
  stopIntake(): Promise<void> {
    this.intakeStopped ??= (async () => {
      const servers: (NetServer | HttpServer)[] = [this.tcp, this.http, ...(this.options.extraServers ?? []).map((e) => e.server)];
      const closed = servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())));
      for (const wss of [this.wss, ...this.extraWss]) for (const client of wss.clients) client.terminate();
      // What aedes.close does with its clients, without closing Aedes itself.
      const clients = Object.values(connectedIds(this.aedes) ?? {});
      await Promise.all(clients.map((client) => new Promise<void>((resolve) => (client ? client.close(() => resolve()) : resolve()))));
      this.options.guard?.closeAll();
      this.http.closeAllConnections();
      for (const { server } of this.options.extraServers ?? []) if ('closeAllConnections' in server) server.closeAllConnections();
      await Promise.all(closed);
    })();
    return this.intakeStopped;
  }

  /** Stops the intake (if not yet), then closes Aedes and its persistence (the last snapshot). */
  async stop(): Promise<void> {
    // Whatever the intake's stop met, Aedes still closes and the last snapshot is still written.
    await this.stopIntake().catch(() => undefined);
    this.stopped = true;
    // A restore under way (a publish at start) ends first: what it loaded is then written back.
    await this.restoring?.catch(() => undefined);
    // Never listened (a start that failed earlier): nothing was loaded, so nothing is written over the last snapshot.
    if (!this.listened) return void (await this.options.cluster?.bus.close());
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    // A persistence that keeps a snapshot (broker/file-persistence.ts) writes its last one now that nothing can change it.
    await (this.options.persistence as { close?: () => Promise<void> } | undefined)?.close?.();
    await this.options.cluster?.bus.close();
  }
}

/**
 * A socket's write buffer, and only that: a write reports the socket full (and Aedes waits for
 * 'drain') only past `bytes` unsent, so a subscriber briefly behind does not hold a delivery
 * slot per message (broker/delivery.ts bounds what it may have unsent). The server's
 * `highWaterMark` option would raise the read buffer too, and with it what each publisher held
 * back (a full spool) keeps in this process instead of in the kernel. Node has no public setter;
 * the field is checked, and test/unit/broker/write-buffer.test.ts fails if it moves.
 */
export function setWriteBuffer(conn: Duplex, bytes: number): void {
  const state = (conn as unknown as { _writableState?: { highWaterMark?: number } })._writableState;
  if (typeof state?.highWaterMark !== 'number') throw new Error('Node stream internals changed: update setWriteBuffer in gateway/broker/broker.ts');
  state.highWaterMark = bytes;
}

