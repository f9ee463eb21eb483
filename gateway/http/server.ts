import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';

export interface Readiness {
  readonly ready: boolean;
  /** Ready, but something an operator should fix is wrong (a rejected rule file): `status: degraded`, still 200. */
  readonly degraded?: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: string; readonly files?: readonly string[] }>>;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpOptions {
  readonly log: Logger;
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  readonly readiness: () => Readiness;
  /** Further routes by exact path (the live page and its streams), added by features. */
  readonly routes?: ReadonlyMap<string, RouteHandler>;
}

/** `/healthz` (the process answers), `/readyz` (InfluxDB reachable, rules loaded), `/metrics`. */
export class HttpServer {
  private readonly server: Server;
  private readonly routes = new Map<string, RouteHandler>();
  /** Routes by path prefix (`/api/alarms/`): the longest matching prefix answers. */
  private readonly prefixes = new Map<string, RouteHandler>();

  constructor(private readonly o: HttpOptions) {
    for (const [path, handler] of o.routes ?? []) this.routes.set(path, handler);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        o.log.error({ err, url: req.url }, 'HTTP handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
  }

  route(path: string, handler: RouteHandler): void {
    this.routes.set(path, handler);
  }

  /** A route for every path under `prefix` (which ends with `/`). */
  routePrefix(prefix: string, handler: RouteHandler): void {
    this.prefixes.set(prefix, handler);
  }

  async start(): Promise<number> {
    const { host, port } = this.o;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(new GatewayError('GW_ERR_LISTEN', `HTTP_PORT=${port} on ${host}: ${err.code ?? err.message}`, { cause: err })));
      this.server.listen(port, host, resolve);
    });
    return (this.server.address() as AddressInfo).port;
  }

  private byPrefix(path: string): RouteHandler | undefined {
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
      const body = await this.o.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.o.metrics.registry.contentType }).end(body);
      return;
    }
    const handler = this.routes.get(path) ?? this.byPrefix(path);
    if (handler) return handler(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}
