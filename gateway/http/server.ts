import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { HttpAuth, HttpPrincipal, Need } from './auth.js';

export interface Readiness {
  readonly ready: boolean;
  /** Ready, but something an operator should fix is wrong (a rejected rule file): `status: degraded`, still 200. */
  readonly degraded?: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: string; readonly files?: readonly string[] }>>;
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
}

/** Who asks when no authentication is configured (a feature tested on its own). */
const OPEN: HttpPrincipal = { name: 'anonymous', role: undefined };

/**
 * `/healthz` (the process answers), `/readyz` (InfluxDB reachable, rules loaded), `/metrics`, and
 * the features' routes. Every route but the two probes goes through `HttpAuth.authorize` first.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly routes = new Map<string, { handler: RouteHandler; need: Need }>();
  /** Routes by path prefix (`/api/alarms/`): the longest matching prefix answers. */
  private readonly prefixes = new Map<string, { handler: RouteHandler; need: Need }>();

  constructor(private readonly o: HttpOptions) {
    for (const [path, handler] of o.routes ?? []) this.routes.set(path, { handler, need: 'read' });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        o.log.error({ err, url: req.url }, 'HTTP handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
  }

  /** Adds a route; `act` routes (that change something) need a role that may act, from the same origin. */
  route(path: string, handler: RouteHandler, need: Need = 'read'): void {
    this.routes.set(path, { handler, need });
  }

  /** A route for every path under `prefix` (which ends with `/`). */
  routePrefix(prefix: string, handler: RouteHandler, need: Need = 'read'): void {
    this.prefixes.set(prefix, { handler, need });
  }

  async start(): Promise<number> {
    const { host, port } = this.o;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(new GatewayError('GW_ERR_LISTEN', `HTTP_PORT=${port} on ${host}: ${err.code ?? err.message}`, { cause: err })));
      this.server.listen(port, host, resolve);
    });
    return (this.server.address() as AddressInfo).port;
  }

  private byPrefix(path: string): { handler: RouteHandler; need: Need } | undefined {
    let best: string | undefined;
    for (const prefix of this.prefixes.keys()) if (path.startsWith(prefix) && (!best || prefix.length > best.length)) best = prefix;
    return best === undefined ? undefined : this.prefixes.get(best);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
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
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const principal = await this.allowed(req, res, route.need);
    if (!principal) return;
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
