import { GatewayError } from '../core/errors.js';
import type { Precision } from './spool/record.js';

export type { Precision };

/** What the sink needs from an InfluxDB API: write a body of line protocol, and say if it is up. */
export interface PointWriter {
  /** For logs: which API, where, which database or bucket. */
  readonly description: string;
  /** Creates what must exist before writing (the 1.x database). */
  prepare(): Promise<void>;
  /**
   * Writes `\n`-separated line protocol whose times are at `precision` (ns; ms in a spool an older
   * version left). Rejects with a WriteError, at once when `signal` aborts (the sink's drain time is up).
   */
  write(body: Buffer, precision?: Precision, signal?: AbortSignal): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * - `rejected`: the store refuses the points as bad (400, 422); the sink believes it only of a
 *   point refused on its own while the store takes a known-good one.
 * - `too-large`: the body is too large (413): split, never condemned.
 * - `missing-database`: create it and try again.
 * - `retryable`: network error, timeout, 5xx, 429, or an auth problem an operator must fix;
 *   retried with backoff while events wait in the spool.
 */
export type WriteFailure = 'rejected' | 'too-large' | 'missing-database' | 'retryable';

export class WriteError extends GatewayError {
  override readonly name = 'WriteError';
  constructor(
    readonly failure: WriteFailure,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(failure === 'rejected' ? 'GW_ERR_INFLUX_REJECTED' : 'GW_ERR_INFLUX_UNREACHABLE', message, options);
  }
}

export function classifyStatus(status: number, body: string): WriteFailure {
  if (status === 404 && /database not found/i.test(body)) return 'missing-database';
  if (status === 413) return 'too-large';
  if (status === 400 || status === 422) return 'rejected';
  return 'retryable';
}

/**
 * Splits a body of line protocol into its lines. A newline inside a quoted string field is part
 * of the line; quotes only count after the measurement and tags (the first unescaped space).
 */
export function splitLines(body: string): string[] {
  const lines: string[] = [];
  let start = 0;
  let inFields = false;
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (!inFields) {
      if (c === ' ') inFields = true;
      else if (c === '\n') {
        if (i > start) lines.push(body.slice(start, i + 1));
        start = i + 1;
      }
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (c === '\n' && !quoted) {
      lines.push(body.slice(start, i + 1));
      start = i + 1;
      inFields = false;
    }
  }
  if (start < body.length) lines.push(body.slice(start));
  return lines;
}

/** An InfluxDB URL without its credentials (safe to log), and the Basic authorization they make (if any). */
export function influxEndpoint(url: string): { readonly base: string; readonly basicAuth: string | undefined } {
  const parsed = new URL(url);
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { base: parsed.toString().replace(/\/$/, ''), basicAuth: username ? `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` : undefined };
}
