import { GatewayError } from '../core/errors.js';

/** What the sink needs from an InfluxDB API: write a body of line protocol, and say if it is up. */
export interface PointWriter {
  /** For logs: which API, where, which database or bucket. */
  readonly description: string;
  /** Creates what must exist before writing (the 1.x database). */
  prepare(): Promise<void>;
  /** Writes `\n`-separated line protocol at ms precision. Rejects with a WriteError. */
  write(body: Buffer): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * - `rejected`: InfluxDB refuses the points as bad (400, 413, 422): retrying cannot help, so
 *   the sink splits the batch and dead-letters the lines refused on their own.
 * - `missing-database`: create it and try again.
 * - `retryable`: network error, timeout, 5xx, 429, or an auth problem an operator must fix;
 *   retried with backoff while events wait in the spool.
 */
export type WriteFailure = 'rejected' | 'missing-database' | 'retryable';

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
  if (status === 400 || status === 413 || status === 422) return 'rejected';
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
