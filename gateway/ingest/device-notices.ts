import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import { logWarn } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';

/** A numeric ts below this (1973-03-03 in ms) is read by native decoders as seconds (devices/normalise.ts); a contract reading keeps it, said. */
const SECONDS_BELOW = 1e11;

/** What a device does that its owner should hear of once (ids reused, a clock ahead or in seconds): counted always, said once per device. */
export class DeviceNotices {
  private readonly warnedReuse = new BoundedMap<string, true>(10_000);
  private readonly warnedAhead = new BoundedMap<string, true>(10_000);
  private readonly warnedSeconds = new BoundedMap<string, true>(10_000);

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The same id with other content: a new reading (a device whose counter restarted). */
  idReused(clientId: string | null, topic: string, device: string, kind: string, id: string): void {
    this.metrics.idReuse.inc({ kind });
    if (this.warnedReuse.has(device)) return;
    this.warnedReuse.set(device, true);
    logWarn(this.log, 'GW_ERR_ID_REUSE', { device, topic, eventId: id, clientId }, 'a reading id came again with other content: kept as a new reading (the device reuses ids, e.g. its counter restarted); said once per device');
  }

  /**
   * What a reading's time says of its device's clock: ahead of the gateway's by more than
   * `aheadNotedMs` (within the allowed skew), or a numeric ts so small it must be epoch seconds.
   */
  dated(clientId: string | null, topic: string, device: string, kind: string, timeMs: number, tsMs: number | undefined, now: number, aheadNotedMs: number): void {
    if (timeMs > now + aheadNotedMs) this.clockAhead(clientId, topic, device, kind, timeMs - now);
    else if (tsMs !== undefined && tsMs < SECONDS_BELOW) this.inSeconds(clientId, topic, device, kind, tsMs);
  }

  /** A numeric `ts` before 1973 (the contract's ts is epoch ms): stored at that ts, as history, as the contract says; said so it is not lost without a trace. */
  private inSeconds(clientId: string | null, topic: string, device: string, kind: string, tsMs: number): void {
    this.metrics.secondsTs.inc({ kind });
    if (this.warnedSeconds.has(device)) return;
    this.warnedSeconds.set(device, true);
    logWarn(this.log, 'GW_ERR_TS_SECONDS', { device, topic, ts: tsMs, storedAt: new Date(tsMs).toISOString(), clientId }, `a reading's ts ${tsMs} reads as ${new Date(tsMs).toISOString()}: epoch seconds? The contract's ts is epoch milliseconds (or ISO-8601); stored at that time as history, not ruled (said once per device)`);
  }

  /** A `ts` ahead of the gateway's clock (within the allowed skew): stored at its ts, judged by when it arrived. */
  private clockAhead(clientId: string | null, topic: string, device: string, kind: string, aheadMs: number): void {
    this.metrics.futureTs.inc({ kind });
    if (this.warnedAhead.has(device)) return;
    this.warnedAhead.set(device, true);
    logWarn(this.log, 'GW_ERR_CLOCK_AHEAD', { device, topic, aheadMs, clientId }, 'a reading is dated ahead of the gateway clock: stored at its ts, judged by when it arrived; check the device clock (said once per device)');
  }
}
