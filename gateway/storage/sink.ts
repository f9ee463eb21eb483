import { setTimeout as sleep } from 'node:timers/promises';
import { logError, logWarn } from '../core/errors.js';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { Metrics } from '../observability/metrics.js';
import type { Batch, Journal } from './journal.js';
import { measurementOf } from './line.js';
import { WriteError, splitLines, type PointWriter } from './writer.js';

export interface SinkOptions {
  readonly journal: Journal;
  readonly writer: PointWriter;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Points per write request. */
  readonly batchSize: number;
  /** Longest a point waits for a batch to fill. */
  readonly flushMs: number;
  /** A point InfluxDB refused on its own (never a dead letter's: that could loop): the gateway dead-letters it. */
  readonly onRejected: (measurement: string, line: string, reason: string) => void;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly pingEveryMs?: number;
}

/**
 * Moves events from the spool to InfluxDB in order: large batches, one request in flight,
 * retries with exponential backoff and jitter for network errors, timeouts and 5xx, and
 * dead letters for points InfluxDB refuses as bad. Only what InfluxDB has taken is confirmed
 * to the spool, so a crash or a stop at any moment loses nothing.
 */
export class InfluxSink {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Aborted when the drain time is up: give up on what is left (it stays in the spool). */
  private stopSignal = new AbortController();
  /** Aborted when stop() is called: cut the batch-filling wait short and write now. */
  private stopRequested = new AbortController();
  private up = false;
  private consecutiveFailures = 0;
  /** Set by the spool's wake-up call, cleared before each take: a wake-up during a take is not lost. */
  private readable = false;
  private readFailures = 0;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SinkOptions) {}

  /** True while InfluxDB answers (last write or ping succeeded). */
  get influxUp(): boolean {
    return this.up;
  }

  /** False while the spool cannot be read (events are kept but do not move to InfluxDB). */
  get draining(): boolean {
    return this.readFailures === 0;
  }

  async start(): Promise<void> {
    const { writer, log, journal } = this.options;
    this.up = await writer.ping();
    if (this.up) {
      await writer.prepare().catch((err: unknown) => log.warn({ err }, 'could not prepare InfluxDB (will retry on write)'));
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
        const written = await this.writeBatch(batch);
        if (!written) return;
        journal.confirm(batch);
        continue;
      }
      if (!this.running) return;
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
   * The next batch from the spool; null when the spool could not be read (a file error): logged,
   * retried after a backoff, and shown by `draining`, never fatal to the loop.
   */
  private async take(batchSize: number): Promise<Batch | undefined | null> {
    try {
      const batch = await this.options.journal.take(batchSize);
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

  /** True once InfluxDB has every point of the batch (or refused some as bad, now dead-lettered). */
  private async writeBatch(batch: Batch): Promise<boolean> {
    const body = batch.bodies.length === 1 ? batch.bodies[0]! : Buffer.concat(batch.bodies);
    for (let attempt = 0; ; attempt++) {
      const failure = await this.tryWrite(body, batch.count);
      if (failure === undefined) return true;
      if (failure.failure === 'rejected') {
        return this.isolateRejected(body.toString('utf8'), failure.message);
      }
      if (failure.failure === 'missing-database') {
        await this.options.writer.prepare().catch(() => undefined);
      }
      // Stopping and InfluxDB fails: no point waiting, the batch is safe in the spool.
      if (this.stopSignal.signal.aborted || !this.running) return false;
      const delay = this.backoff(attempt);
      try {
        await sleep(delay, undefined, { signal: this.stopSignal.signal });
      } catch {
        return false;
      }
    }
  }

  /** One request; undefined on success. Keeps `up`, the failure count and the metrics current. */
  private async tryWrite(body: Buffer, count: number): Promise<WriteError | undefined> {
    const { writer, metrics, log } = this.options;
    const endTimer = metrics.writeLatency.startTimer();
    try {
      await writer.write(body);
      endTimer();
      metrics.writeBatches.inc({ result: 'ok' });
      metrics.pointsWritten.inc(count);
      if (!this.up || this.consecutiveFailures > 0) log.info({ afterFailures: this.consecutiveFailures }, 'InfluxDB takes writes again');
      this.up = true;
      this.consecutiveFailures = 0;
      return undefined;
    } catch (err) {
      endTimer();
      const failure = err instanceof WriteError ? err : new WriteError('retryable', String(err));
      if (failure.failure === 'rejected') {
        metrics.writeBatches.inc({ result: 'rejected' });
        return failure;
      }
      metrics.writeBatches.inc({ result: 'failed' });
      metrics.writeRetries.inc();
      this.consecutiveFailures++;
      if (failure.status === undefined) this.up = false;
      // Log the first failure and then every 10th, not every retry.
      if (this.consecutiveFailures === 1 || this.consecutiveFailures % 10 === 0) {
        logWarn(log, 'GW_ERR_INFLUX_UNREACHABLE', { err: failure.message, failures: this.consecutiveFailures, points: count }, 'InfluxDB write failed; retrying with backoff, events wait in the spool');
      }
      return failure;
    }
  }

  /**
   * InfluxDB refused the batch as bad. It may have written the good points already (1.x
   * "partial write"); writing them again is harmless, so halve until the bad lines stand alone.
   */
  private async isolateRejected(body: string, message: string): Promise<boolean> {
    const lines = splitLines(body);
    if (lines.length <= 1) {
      const name = measurementOf(body);
      // A refused dead letter is not dead-lettered again: that could loop.
      const deadLetter = name === 'deadletters';
      logWarn(this.options.log, 'GW_ERR_INFLUX_REJECTED', { line: body.slice(0, 300), err: message }, deadLetter ? 'InfluxDB refused a dead letter' : 'InfluxDB refused a point; it goes to the dead letters');
      if (!deadLetter) this.options.onRejected(name, body, message);
      return true;
    }
    const middle = Math.ceil(lines.length / 2);
    for (const half of [lines.slice(0, middle), lines.slice(middle)]) {
      const part = half.join('');
      for (let attempt = 0; ; attempt++) {
        const failure = await this.tryWrite(Buffer.from(part, 'utf8'), half.length);
        if (!failure) break;
        if (failure.failure === 'rejected') {
          if (!(await this.isolateRejected(part, failure.message))) return false;
          break;
        }
        if (this.stopSignal.signal.aborted) return false;
        await sleep(this.backoff(attempt), undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
      }
    }
    return true;
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.options.retryBaseMs ?? 100, this.options.retryMaxMs ?? 10_000);
  }

  private async checkHealth(): Promise<void> {
    if (this.consecutiveFailures > 0) return;
    const up = await this.options.writer.ping();
    if (up !== this.up) this.options.log[up ? 'info' : 'warn']({ influx: this.options.writer.description }, up ? 'InfluxDB answers' : 'InfluxDB stopped answering');
    this.up = up;
  }
}
