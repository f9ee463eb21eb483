import { setTimeout as sleep } from 'node:timers/promises';
import { logError, logWarn } from '../core/errors.js';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { BoundedMap } from '../core/bounded-map.js';
import type { Metrics } from '../observability/metrics.js';
import type { Batch, Journal } from './journal.js';
import { measurementOf } from './line.js';
import { WriteError, splitLines, type PointWriter, type Precision } from './writer.js';

/** A point the store refused on its own (while it took a known-good one). */
interface Condemned {
  readonly line: string;
  readonly reason: string;
  readonly status: number | undefined;
}

/** Rounds a batch mostly refused point by point is retried as a store fault before the verdicts stand. */
const MAJORITY_REFUSED_ROUNDS = 5;
/** Bodies the store takes in a row before the body limit learnt from a 413 is doubled. */
const GROW_LIMIT_AFTER = 8;

/** An ms line (an older version's spool) at ns, to go back into the spool, whose new records are ns. */
function toNs(line: string): string {
  return line.replace(/ (\d+)(\n?)$/, ' $1000000$2');
}

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
  private stopSignal = new AbortController();
  /** Aborted when stop() is called: cut the batch-filling wait short and write now. */
  private stopRequested = new AbortController();
  private up = false;
  private consecutiveFailures = 0;
  /** Set by the spool's wake-up call, cleared before each take: a wake-up during a take is not lost. */
  private readable = false;
  private readFailures = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Records taken to grow a batch but of the other precision: the next batch. */
  private carry: Batch | undefined;
  /** The last write's failure, until a write succeeds. */
  private lastFailure: WriteError | undefined;
  /** Store-fault refusals in a row (GW_ERR_INFLUX_REFUSING). */
  private refusals = 0;
  /** The largest body to send, learnt from a 413 (and when). */
  private maxBodyBytes = Number.POSITIVE_INFINITY;
  /** Bodies taken since the limit was last changed: after a few, it is doubled (a limit may have been raised). */
  private acceptedAtLimit = 0;
  /** The last point InfluxDB took: the known-good probe. */
  private lastAccepted: { body: Buffer; precision: Precision } | undefined;
  /** Dead letters InfluxDB refused, back in the spool until it takes them. */
  private readonly unstored = new BoundedMap<string, { tries: number; at: number }>(10_000);

  constructor(private readonly options: SinkOptions) {}

  /** True while InfluxDB answers (last write or ping succeeded). */
  get influxUp(): boolean {
    return this.up;
  }

  /** Dead letters InfluxDB refused that wait in the spool. */
  get deadLettersUnstored(): number {
    return this.unstored.size;
  }

  /** Why writes do not go through now (undefined while they do). */
  get writeProblem(): string | undefined {
    if (this.unstored.size > 0) return `${this.unstored.size} dead letters refused by InfluxDB wait in the spool (GW_ERR_DEADLETTER_REFUSED)`;
    const f = this.lastFailure;
    if (!f) return undefined;
    if (this.refusals > 0) return `InfluxDB refuses writes (HTTP ${f.status ?? '?'}): events wait in the spool (GW_ERR_INFLUX_REFUSING)`;
    if (f.failure === 'retryable' || f.failure === 'missing-database') return `writes fail (${f.status === undefined ? 'unreachable' : `HTTP ${f.status}`}): events wait in the spool`;
    return undefined;
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
        // The batch written may have grown on a retry: confirm what was written, not what was taken first.
        const written = await this.writeBatch(batch);
        if (!written) return;
        journal.confirm(written);
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
      const result = await this.writeBody(body, batch.count, batch.precision, condemned);
      if (result === 'stopped') return undefined;
      if (result === 'written') {
        // Most of the batch refused point by point while InfluxDB takes a known-good point: still
        // more likely the store (a proxy, a misconfiguration) than that many bad points. Retried
        // as a store fault for a while before the points' own verdicts stand.
        if (condemned.length > 1 && condemned.length * 2 > batch.count && attempt < MAJORITY_REFUSED_ROUNDS) {
          this.refusing(condemned[0]!.status, `${condemned.length} of ${batch.count} points refused`);
        } else {
          return (await this.condemn(condemned, batch.precision)) ? batch : undefined;
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
    return { bodies: [...batch.bodies, ...more.bodies], count: batch.count + more.count, bytes: batch.bytes + more.bytes, end: more.end, firstAppendedAt: batch.firstAppendedAt, precision: batch.precision };
  }

  /**
   * Writes a body, split to what the store takes: `written` once InfluxDB has every point of it
   * but those refused on their own (added to `condemned`), `fault` when the store fails or refuses
   * everything (the whole batch is retried later; rewriting what it took is harmless), `stopped`.
   */
  private async writeBody(body: Buffer, count: number, precision: Precision, condemned: Condemned[]): Promise<'written' | 'fault' | 'stopped'> {
    if (this.stopSignal.signal.aborted) return 'stopped';
    if (count > 1 && body.length > this.bodyLimit()) return this.writeHalves(body, precision, condemned);
    const failure = await this.tryWrite(body, count, precision);
    if (failure === undefined) {
      this.accepted(body, precision);
      return 'written';
    }
    switch (failure.failure) {
      case 'too-large':
        // "Too large" says nothing about the points: split, and remember what size the store takes.
        this.maxBodyBytes = Math.max(1, Math.floor(body.length / 2));
        this.acceptedAtLimit = 0;
        if (count > 1) return this.writeHalves(body, precision, condemned);
        // One point refused as too large: no size limit explains that; forget it (the next round
        // sends the batch whole again) and treat it as a store fault.
        this.maxBodyBytes = Number.POSITIVE_INFINITY;
        this.refusing(413, 'a single point is too large for the store');
        return 'fault';
      case 'rejected':
        // Refused as bad: believed only of a point refused on its own while the store takes a known-good one.
        if (!(await this.probe())) {
          this.refusing(failure.status, failure.message);
          return 'fault';
        }
        if (count > 1) return this.writeHalves(body, precision, condemned);
        condemned.push({ line: body.toString('utf8'), reason: failure.message, status: failure.status });
        return 'written';
      case 'missing-database':
        await this.options.writer.prepare().catch(() => undefined);
        return 'fault';
      case 'retryable':
        return 'fault';
    }
  }

  private async writeHalves(body: Buffer, precision: Precision, condemned: Condemned[]): Promise<'written' | 'fault' | 'stopped'> {
    const lines = splitLines(body.toString('utf8'));
    if (lines.length <= 1) {
      // One line after all (its body over the limit): sent as it is.
      const failure = await this.tryWrite(body, 1, precision);
      if (failure === undefined) {
        this.accepted(body, precision);
        return 'written';
      }
      if (failure.failure === 'rejected' && (await this.probe())) {
        condemned.push({ line: body.toString('utf8'), reason: failure.message, status: failure.status });
        return 'written';
      }
      if (failure.failure === 'too-large') this.maxBodyBytes = Number.POSITIVE_INFINITY;
      this.refusing(failure.status, failure.message);
      return 'fault';
    }
    const middle = Math.ceil(lines.length / 2);
    for (const half of [lines.slice(0, middle), lines.slice(middle)]) {
      const result = await this.writeBody(Buffer.from(half.join(''), 'utf8'), half.length, precision, condemned);
      if (result !== 'written') return result;
    }
    return 'written';
  }

  /** The body size to send, learnt from 413s. */
  private bodyLimit(): number {
    return this.maxBodyBytes;
  }

  /**
   * Does the store take a point known to be good? The last point it accepted (rewriting it is
   * harmless), or, before any, one `gateway_probe` point per hour.
   */
  private async probe(): Promise<boolean> {
    const known = this.lastAccepted ?? { body: Buffer.from(`gateway_probe ok=true ${Math.floor(Date.now() / 3_600_000) * 3_600_000}000000\n`), precision: 'ns' as const };
    return (await this.tryWrite(known.body, 1, known.precision, true)) === undefined;
  }

  /** The store refuses what it should take: a store fault (said on the first and every 20th). */
  private refusing(status: number | undefined, message: string): void {
    this.refusals++;
    if (this.refusals === 1 || this.refusals % 20 === 0) {
      logError(
        this.options.log,
        'GW_ERR_INFLUX_REFUSING',
        { status, err: message.slice(0, 300), refusals: this.refusals },
        'InfluxDB refuses writes it should take (a proxy, a misconfiguration, or most of a batch); nothing is condemned, events wait in the spool and are retried',
      );
    }
  }

  /** What InfluxDB took: its last line is the known-good probe; refused dead letters in it are stored at last. */
  private accepted(body: Buffer, precision: Precision): void {
    if (this.refusals > 0) this.options.log.info({ refusals: this.refusals }, 'InfluxDB takes the writes it refused again');
    this.refusals = 0;
    if (this.maxBodyBytes !== Number.POSITIVE_INFINITY && ++this.acceptedAtLimit >= GROW_LIMIT_AFTER) {
      this.maxBodyBytes = this.maxBodyBytes > 64 * 1024 * 1024 ? Number.POSITIVE_INFINITY : this.maxBodyBytes * 2;
      this.acceptedAtLimit = 0;
    }
    const tail = body.toString('utf8', Math.max(0, body.length - 4096));
    const lines = splitLines(tail);
    const last = lines.at(-1);
    // A whole line (the tail may have cut the first one), and not the probe itself.
    if (last !== undefined && (lines.length > 1 || tail.length === body.length) && !last.startsWith('gateway_probe')) this.lastAccepted = { body: Buffer.from(last, 'utf8'), precision };
    if (this.unstored.size > 0) {
      const whole = body.toString('utf8');
      for (const l of [...this.unstored.keys()]) {
        if (!whole.includes(l)) continue;
        this.unstored.delete(l);
        this.options.log.info({ line: l.slice(0, 300) }, 'a dead letter InfluxDB refused before is stored now');
      }
    }
  }

  /**
   * Points refused on their own while the store takes good ones: each becomes a dead letter, and
   * a refused dead letter goes back into the spool (never dropped), durably before the batch is
   * confirmed.
   */
  private async condemn(condemned: readonly Condemned[], precision: Precision): Promise<boolean> {
    for (const c of condemned) {
      const name = measurementOf(c.line);
      if (name === 'deadletters') {
        if (!(await this.keepRefusedDeadLetter(precision === 'ns' ? c.line : toNs(c.line), c.reason))) return false;
        continue;
      }
      logWarn(this.options.log, 'GW_ERR_INFLUX_REJECTED', { line: c.line.slice(0, 300), err: c.reason }, 'InfluxDB refused a point on its own (it takes others); it goes to the dead letters');
      try {
        await this.options.onRejected(name, c.line, c.reason);
      } catch (err) {
        // Not kept (the spool is closing): the batch stays unconfirmed and is written again next time.
        this.options.log.warn({ err }, 'the dead letter of a refused point could not be kept; the batch stays in the spool');
        return false;
      }
    }
    return true;
  }

  /** A dead letter InfluxDB refuses: appended to the spool again (the same line, so the same point) and retried after a backoff. */
  private async keepRefusedDeadLetter(line: string, reason: string): Promise<boolean> {
    const { journal, metrics, log } = this.options;
    const seen = this.unstored.get(line);
    const tries = (seen?.tries ?? 0) + 1;
    if (seen) {
      const wait = seen.at + this.backoff(tries) - Date.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, { signal: this.stopSignal.signal });
        } catch {
          return false;
        }
      }
    }
    this.unstored.set(line, { tries, at: Date.now() });
    metrics.deadLettersRefused.inc();
    if (tries === 1 || tries % 20 === 0) {
      logError(log, 'GW_ERR_DEADLETTER_REFUSED', { line: line.slice(0, 300), err: reason.slice(0, 300), tries }, 'InfluxDB refused a dead letter; it stays in the spool and is retried (not ready until it is stored)');
    }
    if (!journal.append(line, true)) return false;
    try {
      await journal.committed();
      return true;
    } catch {
      return false;
    }
  }

  /** One request; undefined on success. Keeps `up`, the failure count and the metrics current. */
  private async tryWrite(body: Buffer, count: number, precision: Precision, probe = false): Promise<WriteError | undefined> {
    const { writer, metrics, log } = this.options;
    const endTimer = metrics.writeLatency.startTimer();
    try {
      await writer.write(body, precision);
      endTimer();
      metrics.writeBatches.inc({ result: probe ? 'probe' : 'ok' });
      if (!probe) metrics.pointsWritten.inc(count);
      if (!this.up || this.consecutiveFailures > 0) log.info({ afterFailures: this.consecutiveFailures }, 'InfluxDB takes writes again');
      this.up = true;
      this.consecutiveFailures = 0;
      this.lastFailure = undefined;
      return undefined;
    } catch (err) {
      endTimer();
      const failure = err instanceof WriteError ? err : new WriteError('retryable', String(err));
      this.lastFailure = failure;
      if (failure.failure === 'rejected' || failure.failure === 'too-large') {
        metrics.storeRefusals.inc({ status: String(failure.status ?? 'none') });
        metrics.writeBatches.inc({ result: probe ? 'probe_refused' : failure.failure === 'too-large' ? 'too_large' : 'rejected' });
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
