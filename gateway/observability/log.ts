import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/settings.js';
import { BoundedMap } from '../core/bounded-map.js';
import { LogDestination } from './log-destination.js';

export type { Logger };

/** Structured JSON logs; secrets never reach them. By default on stdout through a destination that never blocks (log-destination.ts). */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'iot-gateway' },
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token', 'authorization'], censor: '[redacted]' },
  };
  return pino(options, destination ?? new LogDestination(1));
}

/**
 * Keeps a flood (a misconfigured fleet sending garbage) from turning the log into the
 * bottleneck: per key, the first `perWindow` lines of each window are logged; the rest are
 * counted and reported in one line when the next window opens. Counters and dead letters still
 * record every event.
 */
export class LogLimiter {
  private readonly windows = new BoundedMap<string, { start: number; logged: number; suppressed: number }>(10_000);

  constructor(
    private readonly log: Logger,
    private readonly perWindow = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when this line should be logged; lines left out are reported in a line of their own. */
  allow(key: string): boolean {
    const suppressed = this.admit(key);
    if (suppressed === false) return false;
    if (suppressed > 0) this.log.warn({ key, suppressed, windowMs: this.windowMs }, `${suppressed} more log lines like "${key}" were not written`);
    return true;
  }

  /**
   * False when this line should be left out; else how many lines of the key were left out since
   * the last one written, for the caller to say in this line (`suppressed`).
   */
  admit(key: string): number | false {
    const now = this.now();
    let w = this.windows.get(key);
    let suppressed = 0;
    if (!w || now - w.start >= this.windowMs) {
      suppressed = w?.suppressed ?? 0;
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.logged < this.perWindow) {
      w.logged++;
      // Lines left out within this window come only after its last admission, or from a refund.
      suppressed += w.suppressed;
      w.suppressed = 0;
      return suppressed;
    }
    w.suppressed++;
    return false;
  }

  /** Takes back an admission (`admit` said `suppressed`) whose line was not written after all: it counts as left out. */
  refund(key: string, suppressed: number): void {
    const w = this.windows.get(key);
    if (!w || w.logged === 0) return;
    w.logged--;
    w.suppressed += suppressed + 1;
  }
}
