/**
 * A small HTTP proxy in front of the real InfluxDB, for tests about what the store answers:
 * it passes every request through, except that `/write` can be switched to answer 400, 413 or
 * 500 (as a proxy, a load balancer or a misconfigured server would) until switched back.
 * Every `/write` it sees is recorded with the body and the status it got, so a test can wait
 * for "the gateway has tried this" instead of sleeping.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RefusalStatus = 400 | 413 | 500;

export interface RecordedWrite {
  readonly body: string;
  readonly status: number;
  /** True when the proxy answered itself (a refusal), false when InfluxDB did. */
  readonly refusedByProxy: boolean;
}

export interface Refusal {
  readonly status: RefusalStatus;
  /** Refuse only bodies larger than this many bytes (a body-size limit); all bodies when unset. */
  readonly largerThan?: number;
}

export interface InfluxProxy {
  readonly url: string;
  readonly writes: RecordedWrite[];
  /** From now on, answer `/write` with `status` (for bodies over `largerThan`, if given). */
  refuse(status: RefusalStatus, options?: { largerThan?: number }): void;
  /** From now on, pass `/write` through to InfluxDB again. */
  pass(): void;
  stop(): Promise<void>;
}

/** What a proxy or a misconfigured server says; not InfluxDB's "partial write" naming a line. */
const REFUSAL_BODY: Readonly<Record<RefusalStatus, { type: string; text: string }>> = {
  400: { type: 'text/html', text: '<html><head><title>400 Bad Request</title></head><body><center><h1>400 Bad Request</h1></center></body></html>\n' },
  413: { type: 'text/html', text: '<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center></body></html>\n' },
  500: { type: 'text/html', text: '<html><head><title>500 Internal Server Error</title></head><body><center><h1>500 Internal Server Error</h1></center></body></html>\n' },
};

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startInfluxProxy(target: string): Promise<InfluxProxy> {
  const upstream = target.replace(/\/$/, '');
  const writes: RecordedWrite[] = [];
  let refusal: Refusal | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const path = req.url ?? '/';
    const isWrite = path.startsWith('/write');
    const now = refusal;
    if (isWrite && now && (now.largerThan === undefined || body.length > now.largerThan)) {
      writes.push({ body: body.toString('utf8'), status: now.status, refusedByProxy: true });
      const answer = REFUSAL_BODY[now.status];
      res.writeHead(now.status, { 'content-type': answer.type }).end(answer.text);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || ['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const method = req.method ?? 'GET';
    const response = await fetch(`${upstream}${path}`, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body });
    const answer = Buffer.from(await response.arrayBuffer());
    if (isWrite) writes.push({ body: body.toString('utf8'), status: response.status, refusedByProxy: false });
    const out: Record<string, string> = {};
    response.headers.forEach((v, k) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(k)) out[k] = v;
    });
    res.writeHead(response.status, out).end(answer);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    writes,
    refuse(status, options = {}) {
      refusal = { status, ...options };
    },
    pass() {
      refusal = undefined;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
