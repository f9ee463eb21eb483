import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { sendJson } from '../core/http-json.js';
import type { Metrics } from '../observability/metrics.js';

/** Slow viewers are cut off past this much unsent data (at least twice the snapshot); their browser reconnects and gets a snapshot. */
const MAX_BEHIND_BYTES = 4 * 1024 * 1024;
/** What a viewer turned away is told to wait before it tries again. */
const RETRY_AFTER_S = 10;
/** The page as one response: live.html with its styles and scripts inlined (a function replacer: the scripts hold `$'`). */
const asset = (name: string): string => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
const PAGE = asset('live.html')
  .replace('<link rel="stylesheet" href="live.css">', () => `<style>\n${asset('live.css')}</style>`)
  .replace(/<script src="(live-[a-z]+\.js)"><\/script>/g, (_, name: string) => `<script>\n${asset(name)}</script>`);

export interface LiveViewersOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Viewers at most, in all and per address (0 = no limit). */
  readonly maxViewers: number;
  readonly maxViewersPerAddress: number;
  /** A viewer with more than this unsent (at least twice the snapshot) is cut at once. */
  readonly maxBehindBytes: number | undefined;
  /** The snapshot message a new viewer gets first, and its size now (0 when none is made). */
  readonly snapshot: () => Buffer;
  readonly snapshotBytes: () => number;
}

/**
 * The live page's viewers: the page itself, and the server-sent event streams, bounded in number
 * (in all and per address) and in how far a viewer may fall behind.
 */
export class LiveViewers {
  private readonly clients = new Set<ServerResponse>();
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly o: LiveViewersOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Ends every viewer's stream (at stop). */
  endAll(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  /** GET and HEAD (the HTTP server answers 405 to the rest). */
  page(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : PAGE);
  }

  subscribe(req: IncomingMessage, res: ServerResponse): void {
    const address = req.socket.remoteAddress ?? 'unknown';
    const { maxViewers, maxViewersPerAddress } = this.o;
    const fromAddress = this.perAddress.get(address) ?? 0;
    if ((maxViewers > 0 && this.clients.size >= maxViewers) || (maxViewersPerAddress > 0 && fromAddress >= maxViewersPerAddress)) {
      this.o.metrics.liveViewersRefused.inc();
      const why = maxViewers > 0 && this.clients.size >= maxViewers ? `${this.clients.size} viewers (LIVE_MAX_VIEWERS)` : `${fromAddress} viewers from ${address} (LIVE_MAX_VIEWERS_PER_ADDRESS)`;
      sendJson(res, 503, { error: `too many live page viewers: ${why}; try again later` }, { 'retry-after': String(RETRY_AFTER_S) });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    this.clients.add(res);
    this.perAddress.set(address, fromAddress + 1);
    let forgotten = false;
    const forget = (): void => {
      if (forgotten) return;
      forgotten = true;
      this.clients.delete(res);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    };
    req.once('close', forget);
    res.once('close', forget);
    res.once('error', forget);
    this.send(res, this.o.snapshot());
    this.o.log.debug({ viewers: this.clients.size }, 'live page viewer connected');
  }

  /** Writes to one viewer; one that has fallen behind by more than the bound is cut at once, its buffers freed. */
  private send(res: ServerResponse, message: string | Buffer): void {
    if (!this.clients.has(res)) return;
    res.write(message);
    const bound = Math.max(this.o.maxBehindBytes ?? MAX_BEHIND_BYTES, 2 * (this.o.snapshotBytes()));
    if (res.writableLength <= bound) return;
    this.clients.delete(res);
    this.o.metrics.liveViewersDropped.inc();
    this.o.log.warn({ viewers: this.clients.size, unsent: res.writableLength }, 'live page viewer too slow; disconnected (it reconnects and gets a fresh snapshot)');
    res.destroy();
  }

  broadcast(message: string): void {
    // One Buffer for all: Node queues it by reference, not a copy per viewer.
    const shared = Buffer.from(message);
    for (const res of [...this.clients]) this.send(res, shared);
  }
}
