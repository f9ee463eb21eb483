import type { Logger } from 'pino';
import { logError, logWarn } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Condemned } from './refused-points.js';
import { WriteError, splitLines, type PointWriter, type Precision } from './writer.js';

/** Bodies the store takes in a row before the body limit learnt from a 413 is doubled. */
const GROW_LIMIT_AFTER = 8;

interface BodyWriterOptions {
  readonly writer: PointWriter;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** A body InfluxDB took (refused dead letters in it are stored at last). */
  readonly onTaken: (body: Buffer) => void;
}

/**
 * One body to InfluxDB, its refusals not taken at their word: a 413 splits it (and the size the
 * store takes is learnt), a 400 condemns a point only once that point alone is refused while the
 * store takes a known-good one; anything else is a store fault. Keeps whether InfluxDB is up.
 */
export class BodyWriter {
  /** True while InfluxDB answers (last write or ping succeeded). */
  up = false;
  consecutiveFailures = 0;
  /** The last write's failure, until a write succeeds. */
  lastFailure: WriteError | undefined;
  /** Store-fault refusals in a row (GW_ERR_INFLUX_REFUSING). */
  refusals = 0;
  /** The largest body to send, learnt from 413s. */
  private maxBodyBytes = Number.POSITIVE_INFINITY;
  /** Bodies taken since the limit was last changed: after a few, it is doubled (a limit may have been raised). */
  private acceptedAtLimit = 0;
  /** The last point InfluxDB took: the known-good probe. */
  private lastAccepted: { body: Buffer; precision: Precision } | undefined;

  constructor(
    private readonly o: BodyWriterOptions,
    /** Aborted when the sink's drain time is up. */
    private readonly stop: AbortSignal,
  ) {}

  /**
   * Writes a body, split to what the store takes: `written` once InfluxDB has every point of it
   * but those refused on their own (added to `condemned`), `fault` when the store fails or refuses
   * everything (the whole batch is retried later; rewriting what it took is harmless), `stopped`.
   */
  async writeBody(body: Buffer, count: number, precision: Precision, condemned: Condemned[]): Promise<'written' | 'fault' | 'stopped'> {
    if (this.stop.aborted) return 'stopped';
    if (count > 1 && body.length > this.maxBodyBytes) return this.writeHalves(body, precision, condemned);
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
        await this.o.writer.prepare().catch(() => undefined);
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

  /**
   * Does the store take a point known to be good? The last point it accepted (rewriting it is
   * harmless), or, before any, one `gateway_probe` point per hour.
   */
  private async probe(): Promise<boolean> {
    const known = this.lastAccepted ?? { body: Buffer.from(`gateway_probe ok=true ${Math.floor(Date.now() / 3_600_000) * 3_600_000}000000\n`), precision: 'ns' as const };
    return (await this.tryWrite(known.body, 1, known.precision, true)) === undefined;
  }

  /** The store refuses what it should take: a store fault (said on the first and every 20th). */
  refusing(status: number | undefined, message: string): void {
    this.refusals++;
    if (this.refusals === 1 || this.refusals % 20 === 0) {
      logError(
        this.o.log,
        'GW_ERR_INFLUX_REFUSING',
        { status, err: message.slice(0, 300), refusals: this.refusals },
        'InfluxDB refuses writes it should take (a proxy, a misconfiguration, or most of a batch); nothing is condemned, events wait in the spool and are retried',
      );
    }
  }

  /** What InfluxDB took: its last line is the known-good probe; refused dead letters in it are stored at last. */
  private accepted(body: Buffer, precision: Precision): void {
    if (this.refusals > 0) this.o.log.info({ refusals: this.refusals }, 'InfluxDB takes the writes it refused again');
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
    this.o.onTaken(body);
  }

  /** One request; undefined on success. Keeps `up`, the failure count and the metrics current. */
  private async tryWrite(body: Buffer, count: number, precision: Precision, probe = false): Promise<WriteError | undefined> {
    const { writer, metrics, log } = this.o;
    const endTimer = metrics.writeLatency.startTimer();
    try {
      // Abandoned when the drain time is up: a stop never waits out INFLUX_TIMEOUT_MS (the batch stays in the spool).
      await writer.write(body, precision, this.stop);
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
      // Abandoned at the drain time: not the store's failure, and the journal says what stays.
      if (this.stop.aborted) return failure;
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
}
