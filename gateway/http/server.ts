import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { listenOn } from '../core/listen.js';
import type { Metrics } from '../observability/metrics.js';
import type { HttpAuth, HttpPrincipal, Need } from './auth.js';
import { HttpConnectionLimits, httpServerOptions, type HttpLimits } from './connection-limits.js';
import { sendJson } from '../core/http-json.js';

export interface Readiness {
  readonly ready: boolean;
  /** Ready, but something an operator should fix is wrong (a rejected rule file): `status: degraded`, still 200. */
  readonly degraded?: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: string; readonly files?: readonly string[]; readonly [more: string]: unknown }>>;
}

/** A route; `principal` is who asked (for an action: who acked the alarm, who armed the zone). */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, principal: HttpPrincipal) => void | Promise<void>;

/**
 * The methods a route serves: a list, or for a prefix route whose paths serve different ones
 * (`/api/alarms/<id>` and `/api/alarms/<id>/ack`) a function of the path (undefined: no such
 * path, the handler answers 404).
 */
export type Methods = readonly string[] | ((path: string) => readonly string[] | undefined);
/** What a route that reads serves (Node sends no body for HEAD). */
export const READ_METHODS: readonly string[] = ['GET', 'HEAD'];
export const ACT_METHODS: readonly string[] = ['POST'];

interface Route {
  readonly handler: RouteHandler;
  readonly need: Need;
  readonly methods: Methods;
  /** Served without credentials (the probes; /metrics with METRICS_PUBLIC). */
  readonly open?: boolean;
}

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
 * `HttpAuth.authorize` first. Then, here for every route: a path that does not percent-decode
 * is a 400, a method the route does not serve a 405 with `Allow`; every answer is JSON.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly secure: Server | undefined;
  /** Where HTTPS listens, once started (undefined without TLS). */
  httpsPort: number | undefined;
  private readonly routes = new Map<string, Route>();
  /** Routes by path prefix (`/api/alarms/`): the longest matching prefix answers. */
  private readonly prefixes = new Map<string, Route>();

  constructor(private readonly o: HttpOptions) {
    this.routes.set('/healthz', { handler: (_req, res) => sendJson(res, 200, { status: 'ok' }), need: 'read', methods: READ_METHODS, open: true });
    this.routes.set('/readyz', { handler: (_req, res) => this.ready(res), need: 'read', methods: READ_METHODS, open: true });
    this.routes.set('/metrics', { handler: (_req, res) => this.metrics(res), need: 'read', methods: READ_METHODS, open: o.metricsPublic === true });
    for (const [path, handler] of o.routes ?? []) this.route(path, handler);
    const listener: RequestListener = (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A client that went away mid-request is no failure of ours.
        if (req.destroyed && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return void o.log.debug({ err, url: req.url }, 'HTTP request aborted by the client');
        o.log.error({ err, url: req.url }, 'HTTP handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.end();
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

  /** Adds a route; `act` routes (that change something) need a role that may act, from the same origin. They serve POST, the others GET and HEAD, unless `methods` says. */
  route(path: string, handler: RouteHandler, need: Need = 'read', methods: Methods = need === 'act' ? ACT_METHODS : READ_METHODS): void {
    this.routes.set(path, { handler, need, methods });
  }

  /** A route for every path under `prefix` (which ends with `/`). */
  routePrefix(prefix: string, handler: RouteHandler, need: Need = 'read', methods: Methods = need === 'act' ? ACT_METHODS : READ_METHODS): void {
    this.prefixes.set(prefix, { handler, need, methods });
  }

  /** Listens (HTTP, and HTTPS with TLS); the HTTP port. */
  async start(): Promise<number> {
    const { host, port, tls } = this.o;
    const bound = await listenOn(this.server, host, port, 'HTTP_PORT');
    if (this.secure && tls) this.httpsPort = await listenOn(this.secure, host, tls.port, 'HTTPS_PORT');
    return bound;
  }

  private byPrefix(path: string): Route | undefined {
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
    const route = this.routes.get(path) ?? this.byPrefix(path);
    // An unknown path asks for credentials like any other: a 404 to a stranger would map the routes.
    const principal = route?.open ? OPEN : await this.allowed(req, res, route?.need ?? 'read');
    if (!principal) return;
    // A request refused for what it asked (its body, query or path): counted, as every refusal is.
    res.once('finish', () => {
      if (res.statusCode === 400 || res.statusCode === 413) this.o.metrics.httpRefusals.inc({ reason: res.statusCode === 413 ? 'body_too_large' : 'invalid_request' });
    });
    if (!route) return sendJson(res, 404, { error: 'not found' });
    // The routes decode the ids in their paths; one that cannot be decoded is the client's mistake, not ours.
    if (!decodable(path)) return sendJson(res, 400, { error: `the path is not valid percent-encoding (UTF-8): ${path}` });
    const allow = typeof route.methods === 'function' ? route.methods(path) : route.methods;
    if (allow && !allow.includes(req.method ?? '')) return sendJson(res, 405, { error: `${req.method} is not served on ${path}: use ${allow.join(', ')}` }, { allow: allow.join(', ') });
    return route.handler(req, res, principal);
  }

  private ready(res: ServerResponse): void {
    const r = this.o.readiness();
    const status = !r.ready ? 'not ready' : r.degraded ? 'degraded' : 'ready';
    sendJson(res, r.ready ? 200 : 503, { status, checks: r.checks });
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const body = await this.o.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': this.o.metrics.registry.contentType }).end(body);
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

function decodable(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}
