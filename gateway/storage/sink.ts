import { setTimeout as sleep } from 'node:timers/promises';
import { logError, logWarn } from '../core/errors.js';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { Metrics } from '../observability/metrics.js';
import type { Batch, Journal } from './journal.js';
import { BodyWriter } from './body-writer.js';
import { RefusedPoints, type Condemned } from './refused-points.js';
import type { PointWriter } from './writer.js';

/** How long the start waits for the database to be created (CREATE DATABASE is idempotent and quick when InfluxDB answers). */
const PREPARE_WAIT_MS = 2000;
/** Rounds a batch mostly refused point by point is retried as a store fault before the verdicts stand. */
const MAJORITY_REFUSED_ROUNDS = 5;
export interface SinkOptions {
  readonly journal: Journal;
  readonly writer: PointWriter;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Points per write request. */
  readonly batchSize: number;
  /** Longest a point waits for a batch to fill. */
  readonly flushMs: number;
  /**
   * A point InfluxDB refused on its own (never a dead letter: that goes back into the spool): the
   * gateway dead-letters it; the promise resolves once the dead letter is durable.
   */
  readonly onRejected: (measurement: string, line: string, reason: string) => Promise<void> | undefined;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly pingEveryMs?: number;
}

/**
 * Moves events from the spool to InfluxDB in order: large batches, one request in flight,
 * retries with exponential backoff and jitter for network errors, timeouts and 5xx. A refusal
 * is not taken at its word: a 413 splits the batch (and the sink learns the size the store
 * takes); a 400 condemns a point only once that point alone is refused while the store takes a
 * known-good one, else the store is at fault and the batch waits. Only what InfluxDB has taken
 * (or what is durably dead-lettered) is confirmed to the spool, so a crash or a stop at any
 * moment loses nothing.
 */
export class InfluxSink {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Aborted when the drain time is up: give up on what is left (it stays in the spool). */
  private readonly stopSignal = new AbortController();
  /** Aborted when stop() is called: cut the batch-filling wait short and write now. */
  private readonly stopRequested = new AbortController();
  /** Set by the spool's wake-up call, cleared before each take: a wake-up during a take is not lost. */
  private readable = false;
  private readFailures = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Records taken to grow a batch but of the other precision: the next batch. */
  private carry: Batch | undefined;
  private readonly refused: RefusedPoints;
  private readonly influx: BodyWriter;

  constructor(private readonly options: SinkOptions) {
    this.refused = new RefusedPoints({ ...options, backoff: (attempt) => this.backoff(attempt) });
    this.influx = new BodyWriter({ ...options, onTaken: (body) => this.refused.taken(body) }, this.stopSignal.signal);
  }

  /** True while InfluxDB answers (last write or ping succeeded). */
  get influxUp(): boolean {
    return this.influx.up;
  }

  /** Dead letters InfluxDB refused that wait in the spool. */
  get deadLettersUnstored(): number {
    return this.refused.unstoredDeadLetters;
  }

  /** Why writes do not go through now (undefined while they do). */
  get writeProblem(): string | undefined {
    const unstored = this.refused.unstoredDeadLetters;
    if (unstored > 0) return `${unstored} dead letters refused by InfluxDB wait in the spool (GW_ERR_DEADLETTER_REFUSED)`;
    const f = this.influx.lastFailure;
    if (!f) return undefined;
    if (this.influx.refusals > 0) return `InfluxDB refuses writes (HTTP ${f.status ?? '?'}): events wait in the spool (GW_ERR_INFLUX_REFUSING)`;
    if (f.failure === 'retryable' || f.failure === 'missing-database') return `writes fail (${f.status === undefined ? 'unreachable' : `HTTP ${f.status}`}): events wait in the spool`;
    return undefined;
  }

  /** False while the spool cannot be read (events are kept but do not move to InfluxDB). */
  get draining(): boolean {
    return this.readFailures === 0;
  }

  async start(): Promise<void> {
    const { writer, log, journal } = this.options;
    this.influx.up = await writer.ping();
    if (this.influx.up) {
      // Not waited for long: an InfluxDB that answers the ping and then hangs must not hold the start (a write that finds no database asks again).
      const prepared = writer.prepare().catch((err: unknown) => log.warn({ err }, 'could not prepare InfluxDB (will retry on write)'));
      await Promise.race([prepared, sleep(PREPARE_WAIT_MS, undefined, { ref: false })]);
      log.info({ influx: writer.description }, 'InfluxDB is up');
    } else {
      logWarn(log, 'GW_ERR_INFLUX_UNREACHABLE', { influx: writer.description }, 'InfluxDB does not answer; events wait in the spool until it does');
    }
    journal.onReadable(() => {
      this.readable = true;
      this.wake?.();
    });
    this.running = true;
    this.loop = this.run();
    const pingEvery = this.options.pingEveryMs ?? 5000;
    this.pingTimer = setInterval(() => void this.checkHealth(), pingEvery);
    this.pingTimer.unref();
  }

  /**
   * Writes what is waiting (for at most `drainMs`), then stops. What is not written stays in
   * the spool for the next start.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopRequested.abort();
    this.wake?.();
    const timer = setTimeout(() => this.stopSignal.abort(), drainMs);
    try {
      await this.loop?.catch((err: unknown) => this.options.log.error({ err }, 'the InfluxDB sink ended with an error'));
    } finally {
      clearTimeout(timer);
      if (this.pingTimer) clearInterval(this.pingTimer);
    }
  }

  private async run(): Promise<void> {
    const { journal, batchSize, flushMs } = this.options;
    while (!this.stopSignal.signal.aborted) {
      this.readable = false;
      const batch = await this.take(batchSize);
      if (batch === null) continue;
      if (batch) {
        // The batch written may have grown on a retry: confirm what was written, not what was taken first.
        const written = await this.writeBatch(batch);
        if (!written) return;
        journal.confirm(written);
        continue;
      }
      if (!this.running) {
        // Stopping: what was kept just before stop() (the gateway's last gateway_stats point) may
        // still be in its group commit; take it too rather than leave it for the next start.
        if (await this.lastCommitLanded()) continue;
        return;
      }
      if (!this.readable) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
      }
      // Woken by the first new record: give the batch flushMs to fill.
      if (this.running && flushMs > 0) await sleep(flushMs, undefined, { signal: this.stopRequested.signal }).catch(() => undefined);
    }
  }

  /**
   * True once the spool's commit under way has handed on new records; false if none was, the
   * drain time ran out, or the disk refuses writes (the spool's close gives them their last tries).
   */
  private async lastCommitLanded(): Promise<boolean> {
    const signal = this.stopSignal.signal;
    if (signal.aborted || this.options.journal.writeFailing) return false;
    let onAbort!: () => void;
    const timeUp = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.options.journal.committed().catch(() => undefined), timeUp]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return this.readable && !signal.aborted;
  }

  /**
   * The next batch from the spool; null when the spool could not be read (a file error): logged,
   * retried after a backoff, and shown by `draining`, never fatal to the loop.
   */
  private async take(batchSize: number): Promise<Batch | undefined | null> {
    try {
      const carried = this.carry;
      this.carry = undefined;
      const batch = carried ?? (await this.options.journal.take(batchSize));
      if (this.readFailures > 0) this.options.log.info({ failures: this.readFailures }, 'the spool reads again');
      this.readFailures = 0;
      return batch;
    } catch (err) {
      this.readFailures++;
      const delay = this.backoff(this.readFailures);
      if (this.readFailures === 1 || this.readFailures % 20 === 0) {
        logError(this.options.log, 'GW_ERR_SPOOL_READ', { err, failures: this.readFailures, retryInMs: Math.round(delay) }, 'the spool could not be read; retrying');
      }
      await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
      return null;
    }
  }

  /**
   * The batch (grown by retries) once InfluxDB has every point of it, or refused some on their own
   * and their dead letters are durably in the spool; undefined when stopping (it stays in the spool).
   */
  private async writeBatch(first: Batch): Promise<Batch | undefined> {
    let batch = first;
    let body = batch.bodies.length === 1 ? batch.bodies[0]! : Buffer.concat(batch.bodies);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        // A retry takes along what arrived meanwhile (up to a batch): after a long fault the
        // store gets large batches, and every waiting event is tried, not only the oldest batch.
        const grown = await this.grow(batch);
        if (grown !== batch) {
          batch = grown;
          body = Buffer.concat(batch.bodies);
        }
      }
      const condemned: Condemned[] = [];
      const result = await this.influx.writeBody(body, batch.count, batch.precision, condemned);
      if (result === 'stopped') return undefined;
      if (result === 'written') {
        // Most of the batch refused point by point while InfluxDB takes a known-good point: still
        // more likely the store (a proxy, a misconfiguration) than that many bad points. Retried
        // as a store fault for a while before the points' own verdicts stand.
        if (condemned.length > 1 && condemned.length * 2 > batch.count && attempt < MAJORITY_REFUSED_ROUNDS) {
          this.influx.refusing(condemned[0]!.status, `${condemned.length} of ${batch.count} points refused`);
        } else {
          return (await this.refused.condemn(condemned, batch.precision, this.stopSignal.signal)) ? batch : undefined;
        }
      }
      // Stopping and InfluxDB fails: no point waiting, the batch is safe in the spool.
      if (this.stopSignal.signal.aborted || !this.running) return undefined;
      try {
        await sleep(this.backoff(attempt), undefined, { signal: this.stopSignal.signal });
      } catch {
        return undefined;
      }
    }
  }

  /** The batch with the next records of the spool added (of its precision, up to a batch); the journal confirms up to its end. */
  private async grow(batch: Batch): Promise<Batch> {
    if (batch.count >= this.options.batchSize || this.carry) return batch;
    let more: Batch | undefined;
    try {
      more = await this.options.journal.take(this.options.batchSize - batch.count);
    } catch {
      return batch;
    }
    if (!more) return batch;
    if (more.precision !== batch.precision) {
      this.carry = more;
      return batch;
    }
    return { bodies: [...batch.bodies, ...more.bodies], appendedAts: [...batch.appendedAts, ...more.appendedAts], count: batch.count + more.count, bytes: batch.bytes + more.bytes, end: more.end, firstAppendedAt: batch.firstAppendedAt, precision: batch.precision };
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.options.retryBaseMs ?? 100, this.options.retryMaxMs ?? 10_000);
  }

  private async checkHealth(): Promise<void> {
    if (this.influx.consecutiveFailures > 0) return;
    const up = await this.options.writer.ping();
    if (up !== this.influx.up) this.options.log[up ? 'info' : 'warn']({ influx: this.options.writer.description }, up ? 'InfluxDB answers' : 'InfluxDB stopped answering');
    this.influx.up = up;
  }
}
