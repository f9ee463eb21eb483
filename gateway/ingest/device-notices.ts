import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import { logWarn } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';

/** What a device does that its owner should hear of once (ids reused, a clock ahead): counted always, said once per device. */
export class DeviceNotices {
  private readonly warnedReuse = new BoundedMap<string, true>(10_000);
  private readonly warnedAhead = new BoundedMap<string, true>(10_000);

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

  /** A `ts` ahead of the gateway's clock (within the allowed skew): stored at its ts, judged by when it arrived. */
  clockAhead(clientId: string | null, topic: string, device: string, kind: string, aheadMs: number): void {
    this.metrics.futureTs.inc({ kind });
    if (this.warnedAhead.has(device)) return;
    this.warnedAhead.set(device, true);
    logWarn(this.log, 'GW_ERR_CLOCK_AHEAD', { device, topic, aheadMs, clientId }, 'a reading is dated ahead of the gateway clock: stored at its ts, judged by when it arrived; check the device clock (said once per device)');
  }
}
