import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import { evictionCounter } from '../observability/evictions.js';
import { RefusalLog } from '../observability/refusal-log.js';
import type { Metrics } from '../observability/metrics.js';

/** HTTP_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS_PER_ADDRESS, HTTP_HEADERS_TIMEOUT_MS (0 = no limit, or Node's default timeout). */
export interface HttpLimits {
  readonly maxConnections: number;
  readonly maxPerAddress: number;
  readonly headersTimeoutMs: number;
}

/** The `reason` labels of `gateway_http_refusals_total` for a connection refused or cut before its request was read. */
type HttpConnectionRefusal = 'max_connections' | 'connections_per_address' | 'headers_timeout' | 'bad_request';

/** Same reason from the same address: one log line per this long, with a count of the ones left out (as MQTT's refusals). */
const LOG_EVERY_MS = 10_000;
/** Largest gap between Node's checks of the headers timeout (its default, 30 s, let a 10 s timeout hold a socket 40 s). */
const CHECK_EVERY_MS = 1_000;

/**
 * Options for `createServer`: Node checks its headers and request timeouts only every
 * `connectionsCheckingInterval`, which only the constructor takes. The request timeout bounds
 * the request as received (headers and body), never the response: the live page's event
 * stream, a long response to a short request, is not cut.
 */
export function httpServerOptions(l: HttpLimits): { connectionsCheckingInterval?: number; headersTimeout?: number; requestTimeout?: number } {
  if (l.headersTimeoutMs <= 0) return {};
  return { connectionsCheckingInterval: Math.max(50, Math.min(CHECK_EVERY_MS, Math.floor(l.headersTimeoutMs / 2))), headersTimeout: l.headersTimeoutMs, requestTimeout: l.headersTimeoutMs };
}

/**
 * Bounds the sockets of the HTTP (and HTTPS) server, so that clients that hold connections
 * open (slowloris: a header line every few seconds) cannot take the process's file
 * descriptors, which the spool and the MQTT side need too. A total cap per server (Node's
 * `maxConnections`, refused ones reported as 'drop'), a cap per address over both servers, and
 * the headers timeout; every refusal counted in `gateway_http_refusals_total{reason}` and logged.
 */
export class HttpConnectionLimits {
  private readonly perAddress: BoundedMap<string, number>;
  private readonly refusals: RefusalLog<HttpConnectionRefusal>;

  constructor(private readonly o: { readonly limits: HttpLimits; readonly metrics: Metrics; readonly log: Logger; readonly now?: () => number }) {
    // One entry per address with a connection open: at most the connections themselves.
    const capacity = Math.max(100_000, o.limits.maxConnections + 1);
    const evicted = evictionCounter(o.metrics, o.log);
    this.perAddress = new BoundedMap(capacity, () => evicted('http_connections_per_address', capacity, `a forgotten address's connections are no longer counted against HTTP_MAX_CONNECTIONS_PER_ADDRESS`));
    this.refusals = new RefusalLog({
      counter: o.metrics.httpRefusals,
      log: o.log,
      code: (reason) => (reason === 'bad_request' ? 'GW_ERR_PROTOCOL' : 'GW_ERR_LIMIT'),
      message: (reason) => `HTTP refused: ${reason}`,
      now: o.now ?? Date.now,
      everyMs: LOG_EVERY_MS,
    });
  }

  apply(server: Server): void {
    const { maxConnections, maxPerAddress } = this.o.limits;
    if (maxConnections > 0) {
      server.maxConnections = maxConnections;
      // Node ≥18 closes a socket beyond maxConnections itself and says so with 'drop'.
      server.on('drop', (data?: { remoteAddress?: string }) => this.refuse('max_connections', data?.remoteAddress, `${maxConnections} HTTP connections open, the limit is ${maxConnections} (HTTP_MAX_CONNECTIONS)`));
    }
    // 'connection' is the TCP socket for HTTPS too: counted before its TLS handshake.
    if (maxPerAddress > 0) server.on('connection', (socket: Socket) => this.admit(socket, maxPerAddress));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
  }

  private admit(socket: Socket, max: number): void {
    const address = socket.remoteAddress ?? 'unknown';
    const open = this.perAddress.get(address) ?? 0;
    if (open >= max) {
      this.refuse('connections_per_address', address, `${open} HTTP connections from ${address} open, the limit is ${max} (HTTP_MAX_CONNECTIONS_PER_ADDRESS)`);
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open + 1);
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
  }

  /** What Node would do without a listener (408, 431 or 400, then close), with the timeout and malformed requests counted. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const address = (socket as Socket).remoteAddress;
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const malformed = err.code?.startsWith('HPE_') === true;
    if (timeout) this.refuse('headers_timeout', address, `request not received within HTTP_HEADERS_TIMEOUT_MS (${this.o.limits.headersTimeoutMs} ms)`);
    else if (malformed) this.refuse('bad_request', address, err.message);
    const status = timeout ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    // A response already under way (its headers sent) is not interrupted by a status line.
    const responding = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if ((timeout || malformed) && socket.writable && !responding) socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    socket.destroy();
  }

  private refuse(reason: HttpConnectionRefusal, address: string | undefined, detail: string): void {
    this.refusals.refuse(reason, address ?? '', { address }, detail);
  }
}
