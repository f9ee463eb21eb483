import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { listenOn } from '../core/listen.js';
import type { Metrics } from '../observability/metrics.js';
import type { HttpAuth, HttpPrincipal, Need } from './auth.js';
import { HttpConnectionLimits, httpServerOptions, type HttpLimits } from './connection-limits.js';

export interface Readiness {
  readonly ready: boolean;
  /** Ready, but something an operator should fix is wrong (a rejected rule file): `status: degraded`, still 200. */
  readonly degraded?: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: string; readonly files?: readonly string[]; readonly [more: string]: unknown }>>;
}

/** A route; `principal` is who asked (for an action: who acked the alarm, who armed the zone). */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, principal: HttpPrincipal) => void | Promise<void>;

export interface HttpOptions {
  readonly log: Logger;
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly readiness: () => Readiness;
  /** Further routes by exact path (the live page and its streams), added by features; each needs 'read'. */
  readonly routes?: ReadonlyMap<string, RouteHandler>;
  /** Who may do what (none: everything open, as a test of a feature on its own may want). */
  readonly auth?: HttpAuth;
  /** METRICS_PUBLIC: /metrics without credentials. */
  readonly metricsPublic?: boolean;
  /** The same routes over TLS too (HTTPS_PORT, with TLS_CERT_FILE and TLS_KEY_FILE). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly port: number; readonly handshakeTimeoutMs?: number };
  /** Connection caps and the headers timeout, for both servers (none: Node's defaults, no caps). */
  readonly limits?: HttpLimits;
}

/** Who asks when no authentication is configured (a feature tested on its own). */
const OPEN: HttpPrincipal = { name: 'anonymous', role: undefined };

/**
 * `/healthz` (the process answers), `/readyz` (InfluxDB reachable, rules loaded), `/metrics`, and
 * the features' routes. Every path but the two probes, unknown ones too, goes through
 * `HttpAuth.authorize` first.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly secure: Server | undefined;
  /** Where HTTPS listens, once started (undefined without TLS). */
  httpsPort: number | undefined;
  private readonly routes = new Map<string, { handler: RouteHandler; need: Need }>();
  /** Routes by path prefix (`/api/alarms/`): the longest matching prefix answers. */
  private readonly prefixes = new Map<string, { handler: RouteHandler; need: Need }>();

  constructor(private readonly o: HttpOptions) {
    for (const [path, handler] of o.routes ?? []) this.routes.set(path, { handler, need: 'read' });
    const listener: RequestListener = (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        o.log.error({ err, url: req.url }, 'HTTP handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    };
    const timeouts = o.limits ? httpServerOptions(o.limits) : {};
    this.server = createServer(timeouts, listener);
    const tls = o.tls;
    this.secure = tls ? createHttpsServer({ ...timeouts, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', ...(tls.handshakeTimeoutMs ? { handshakeTimeout: tls.handshakeTimeoutMs } : {}) }, listener) : undefined;
    if (o.limits) {
      const limits = new HttpConnectionLimits({ limits: o.limits, metrics: o.metrics, log: o.log });
      for (const server of this.secure ? [this.server, this.secure] : [this.server]) limits.apply(server);
    }
    // A failed or abandoned handshake (plain HTTP to the port, an untrusted certificate, a slow client) is counted.
    this.secure?.on('tlsClientError', () => o.metrics.httpRefusals.inc({ reason: 'tls_handshake' }));
  }

  /** Adds a route; `act` routes (that change something) need a role that may act, from the same origin. */
  route(path: string, handler: RouteHandler, need: Need = 'read'): void {
    this.routes.set(path, { handler, need });
  }

  /** A route for every path under `prefix` (which ends with `/`). */
  routePrefix(prefix: string, handler: RouteHandler, need: Need = 'read'): void {
    this.prefixes.set(prefix, { handler, need });
  }

  /** Listens (HTTP, and HTTPS with TLS); the HTTP port. */
  async start(): Promise<number> {
    const { host, port, tls } = this.o;
    const bound = await listenOn(this.server, host, port, 'HTTP_PORT');
    if (this.secure && tls) this.httpsPort = await listenOn(this.secure, host, tls.port, 'HTTPS_PORT');
    return bound;
  }

  private byPrefix(path: string): { handler: RouteHandler; need: Need } | undefined {
    let best: string | undefined;
    for (const prefix of this.prefixes.keys()) if (path.startsWith(prefix) && (!best || prefix.length > best.length)) best = prefix;
    return best === undefined ? undefined : this.prefixes.get(best);
  }

  async stop(): Promise<void> {
    const servers = this.secure ? [this.server, this.secure] : [this.server];
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (path === '/readyz') {
      const r = this.o.readiness();
      const status = !r.ready ? 'not ready' : r.degraded ? 'degraded' : 'ready';
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status, checks: r.checks }));
      return;
    }
    if (path === '/metrics') {
      if (!this.o.metricsPublic && !(await this.allowed(req, res, 'read'))) return;
      const body = await this.o.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.o.metrics.registry.contentType }).end(body);
      return;
    }
    const route = this.routes.get(path) ?? this.byPrefix(path);
    // An unknown path asks for credentials like any other: a 404 to a stranger would map the routes.
    const principal = await this.allowed(req, res, route?.need ?? 'read');
    if (!principal) return;
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    return route.handler(req, res, principal);
  }

  /** Who asked, or undefined once the refusal is sent. */
  private async allowed(req: IncomingMessage, res: ServerResponse, need: Need): Promise<HttpPrincipal | undefined> {
    if (!this.o.auth) return OPEN;
    const a = await this.o.auth.authorize(req, need);
    if (a.ok) return a.principal;
    this.o.auth.refuse(res, a);
    return undefined;
  }
}
