import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import { logError, logWarn } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Journal } from './journal.js';
import { measurementOf } from './line.js';
import type { Precision } from './writer.js';

/** A point the store refused on its own (while it took a known-good one). */
export interface Condemned {
  readonly line: string;
  readonly reason: string;
  readonly status: number | undefined;
}

interface RefusedPointsOptions {
  readonly journal: Journal;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The gateway dead-letters a refused point; resolves once the dead letter is durable. */
  readonly onRejected: (measurement: string, line: string, reason: string) => Promise<void> | undefined;
  readonly backoff: (attempt: number) => number;
}

/** An ms line (an older version's spool) at ns, to go back into the spool, whose new records are ns. */
function toNs(line: string): string {
  return line.replace(/ (\d+)(\n?)$/, ' $1000000$2');
}

/**
 * What becomes of points InfluxDB refused on their own: dead letters, and dead letters it refuses
 * back into the spool until it takes them (never dropped).
 */
export class RefusedPoints {
  /** Dead letters InfluxDB refused, back in the spool until it takes them. */
  private readonly unstored = new BoundedMap<string, { tries: number; at: number }>(10_000);

  constructor(private readonly o: RefusedPointsOptions) {}

  /** Dead letters InfluxDB refused that wait in the spool. */
  get unstoredDeadLetters(): number {
    return this.unstored.size;
  }

  /** A body InfluxDB took: refused dead letters in it are stored at last. */
  taken(body: Buffer): void {
    if (this.unstored.size === 0) return;
    const whole = body.toString('utf8');
    for (const l of [...this.unstored.keys()]) {
      if (!whole.includes(l)) continue;
      this.unstored.delete(l);
      this.o.log.info({ line: l.slice(0, 300) }, 'a dead letter InfluxDB refused before is stored now');
    }
  }

  /**
   * Points refused on their own while the store takes good ones: each becomes a dead letter, and
   * a refused dead letter goes back into the spool (never dropped), durably before the batch is
   * confirmed.
   */
  async condemn(condemned: readonly Condemned[], precision: Precision, stop: AbortSignal): Promise<boolean> {
    for (const c of condemned) {
      const name = measurementOf(c.line);
      if (name === 'deadletters') {
        if (!(await this.keepRefusedDeadLetter(precision === 'ns' ? c.line : toNs(c.line), c.reason, stop))) return false;
        continue;
      }
      logWarn(this.o.log, 'GW_ERR_INFLUX_REJECTED', { line: c.line.slice(0, 300), err: c.reason }, 'InfluxDB refused a point on its own (it takes others); it goes to the dead letters');
      try {
        await this.o.onRejected(name, c.line, c.reason);
      } catch (err) {
        // Not kept (the spool is closing): the batch stays unconfirmed and is written again next time.
        this.o.log.warn({ err }, 'the dead letter of a refused point could not be kept; the batch stays in the spool');
        return false;
      }
    }
    return true;
  }

  /** A dead letter InfluxDB refuses: appended to the spool again (the same line, so the same point) and retried after a backoff. */
  private async keepRefusedDeadLetter(line: string, reason: string, stop: AbortSignal): Promise<boolean> {
    const { journal, metrics, log } = this.o;
    const seen = this.unstored.get(line);
    const tries = (seen?.tries ?? 0) + 1;
    if (seen) {
      const wait = seen.at + this.o.backoff(tries) - Date.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, { signal: stop });
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
}
