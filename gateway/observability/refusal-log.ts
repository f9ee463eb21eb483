import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { ErrorCode } from '../core/errors.js';
import { LogLimiter } from './log.js';

/**
 * Counts every refusal and logs it (warn) with its reason, catalogue code and who it was: one line
 * per reason and who every `everyMs`, carrying the count of the ones left out (`suppressed`), so a
 * client hammering a limit yields a line every 10 s, not a flood. MQTT's refusals
 * (broker/refusals.ts) and HTTP's (http/connection-limits.ts) are both told this way.
 */
export class RefusalLog<R extends string> {
  private readonly limiter: LogLimiter;

  constructor(
    private readonly o: {
      readonly counter: Counter<'reason'>;
      readonly log: Logger;
      readonly code: (reason: R) => ErrorCode;
      readonly message: (reason: R) => string;
      readonly now: () => number;
      readonly everyMs: number;
    },
  ) {
    this.limiter = new LogLimiter(o.log, 1, o.everyMs, o.now);
  }

  /** `who` keys the log limit beside the reason (an address, a client id); `fields` go into the line. */
  refuse(reason: R, who: string, fields: Readonly<Record<string, unknown>>, detail: string): void {
    this.o.counter.inc({ reason });
    const suppressed = this.limiter.admit(`${reason}|${who}`);
    if (suppressed === false) return;
    this.o.log.warn({ code: this.o.code(reason), reason, detail, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, this.o.message(reason));
  }
}
