/** How the HTTP routes (http/, and the redrive route of ingest/) answer and read: JSON answers, bounded bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What is read and dropped past a body's bound, so that a client still sending can read the 413 before the connection closes. */
const DRAIN_MAX = 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/**
 * The body as text, or undefined when it is over `max` bytes (answer `tooLarge`). Past `max` the
 * rest is read and dropped, up to 1 MiB more: closing a connection with data still unread makes
 * TCP reset it, and the client may then lose the answer it was sent.
 */
export function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
      else if (size > max + DRAIN_MAX) {
        req.pause();
        resolve(undefined);
      }
    });
    req.on('end', () => resolve(size > max ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** 413 with a JSON error; the connection closes after it (what more was sent is not read). */
export function tooLarge(res: ServerResponse, max: number): void {
  sendJson(res, 413, { error: `the body is over ${max} bytes` }, { connection: 'close' });
}
