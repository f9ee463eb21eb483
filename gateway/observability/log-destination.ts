import { fstatSync, write, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { backoffDelay } from '../core/backoff.js';
import { logError } from '../core/errors.js';

/** One JSON line on stderr, best effort (it may be on the same full disk): the counter still says it. */
const toStderr = (level: number) => (fields: object, msg: string): void => {
  try {
    writeSync(2, `${JSON.stringify({ level, time: Date.now(), ...fields, msg })}\n`);
  } catch {
    // Nowhere to say it.
  }
};
const stderrLog = { warn: toStderr(40), error: toStderr(50), fatal: toStderr(60) };

/** Lines kept while the destination cannot write, at most (past it, lines are dropped and counted). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

let droppedLines = 0;
let reported = false;
const destinations = new Set<LogDestination>();

/** Before the process exits: one attempt to write what every destination still holds. */
export function flushLogs(): void {
  for (const d of destinations) d.flushSync();
}

/** Log lines dropped because their destination could not take them (gateway_log_lines_dropped_total). */
export function logLinesDropped(): number {
  return droppedLines;
}

const linesIn = (text: string): number => {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n || 1;
};

/**
 * Where the logs go (stdout by default): a destination that never blocks shutdown or the event
 * loop. pino's default (sonic-boom) retries a write that fails with ENOSPC forever, in a sleep
 * loop at exit, so a full disk under the log kept the process alive with its ports bound.
 *
 * - Files and terminals are written at once (one `writeSync` per chunk, a log line shows before
 *   a fatal exit); pipes and sockets asynchronously (a slow reader must not stall the loop).
 * - A write that fails (ENOSPC, EIO, EPIPE…) drops its lines and counts them; the next lines are
 *   tried after a backoff, so the log resumes by itself when space returns. Lines waiting
 *   meanwhile are bounded; past that they are dropped and counted too. It never emits 'error'.
 * - `flushSync()` (pino's exit hook, main.ts before exiting) makes one attempt, never a loop.
 * - GW_ERR_LOG_WRITE is said once on stderr (best effort: it may be on the same disk).
 */
export class LogDestination extends Writable {
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly async: boolean;

  constructor(private readonly fd = 1) {
    super({ decodeStrings: false });
    let async = false;
    try {
      const stat = fstatSync(fd);
      async = stat.isFIFO() || stat.isSocket();
    } catch {
      // An fd we cannot stat: write at once and let failures count.
    }
    this.async = async;
    destinations.add(this);
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.add(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    // Never backpressure, never an error: a log that cannot keep up loses lines, not the gateway.
    callback();
  }

  /** One attempt to write what waits, now; what the destination refuses is dropped and counted. */
  flushSync(): void {
    if (this.queue.length === 0) return;
    const text = this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    try {
      const written = writeSync(this.fd, text);
      if (written < Buffer.byteLength(text)) this.drop(Buffer.from(text).subarray(written).toString('utf8'), undefined);
    } catch (err) {
      this.drop(text, err);
    }
  }

  private add(text: string): void {
    if (this.queuedBytes + text.length > MAX_QUEUED_BYTES) {
      this.drop(text, undefined);
      return;
    }
    this.queue.push(text);
    this.queuedBytes += text.length;
    if (this.writing || this.retryTimer) return;
    if (this.async) this.writeAsync();
    else this.writeNow();
  }

  private writeNow(): void {
    while (this.queue.length > 0) {
      const text = this.queue.shift()!;
      this.queuedBytes -= text.length;
      try {
        const bytes = Buffer.from(text, 'utf8');
        const written = writeSync(this.fd, bytes);
        if (written < bytes.length) this.unshift(bytes.subarray(written).toString('utf8'));
        else this.wrote();
      } catch (err) {
        this.refused(text, err);
        return;
      }
    }
  }

  private writeAsync(): void {
    if (this.queue.length === 0) return;
    const text = this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    const bytes = Buffer.from(text, 'utf8');
    this.writing = true;
    write(this.fd, bytes, (err, written) => {
      this.writing = false;
      if (err) {
        this.refused(text, err);
        return;
      }
      if (written < bytes.length) this.unshift(bytes.subarray(written).toString('utf8'));
      else this.wrote();
      this.writeAsync();
    });
  }

  private unshift(text: string): void {
    this.queue.unshift(text);
    this.queuedBytes += text.length;
  }

  private wrote(): void {
    this.failures = 0;
  }

  /** A write of `text` was refused: tried again soon if the destination is only busy, else dropped. */
  private refused(text: string, err: unknown): void {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
      this.unshift(text);
      this.retryLater(10);
    } else {
      this.failed(text, err);
    }
  }

  /** The write failed: its lines are dropped, and the next are tried after a backoff. */
  private failed(text: string, err: unknown): void {
    this.drop(text, err);
    this.failures++;
    this.retryLater(backoffDelay(this.failures - 1, 100, 30_000));
  }

  private retryLater(ms: number): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.async) this.writeAsync();
      else this.writeNow();
    }, ms);
    // A log waiting to be written must not keep the process alive.
    this.retryTimer.unref();
  }

  private drop(text: string, err: unknown): void {
    droppedLines += linesIn(text);
    if (reported || err === undefined) return;
    reported = true;
    logError(stderrLog, 'GW_ERR_LOG_WRITE', { err: (err as Error).message }, 'the log destination cannot be written; log lines are dropped (counted in gateway_log_lines_dropped_total) until it can');
  }
}
