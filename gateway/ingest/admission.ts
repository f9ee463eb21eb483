import type { Logger } from 'pino';
import { logError } from '../core/errors.js';
import type { StorableEvents, StorableName, Store } from '../core/store.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

/** How an event gets into the spool, full or not, and when its publisher may be acknowledged. */
export class SpoolAdmission {
  private readonly logLimiter: LogLimiter;

  constructor(
    private readonly store: Store,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Hold a QoS ≥ 1 acknowledgement until the event is on disk. */
    private readonly durableAck: boolean,
  ) {
    this.logLimiter = new LogLimiter(log);
  }

  /**
   * Keeps a point in the spool, then announces the event. With the spool full, a QoS 0 event
   * is still announced (rules must see a smoke alarm) but not stored, and counted as dropped;
   * a QoS ≥ 1 event waits, unacknowledged, until there is room.
   */
  keep<K extends StorableName>(name: K, event: StorableEvents[K], qos: 0 | 1 | 2, announce: () => void): Promise<void> | undefined {
    const { store } = this;
    if (store.keep(name, event)) {
      announce();
      return qos > 0 && this.durableAck ? store.committed() : undefined;
    }
    // The spool is full (or closing). Rules see the event now either way: a smoke alarm must not
    // wait for InfluxDB. Only storing it, and a QoS 1 acknowledgement, wait.
    announce();
    if (qos === 0 || !store.isOpen) {
      const reason = store.isOpen ? (store.fullReason?.() ?? 'spool_full') : 'shutting_down';
      this.metrics.dropped.inc({ reason });
      // A full disk is said by the spool itself (GW_ERR_SPOOL_DISK_FULL, GW_ERR_SPOOL_WRITE).
      if (reason === 'spool_full' && this.logLimiter.allow('spool full')) {
        logError(this.log, 'GW_ERR_SPOOL_FULL', {}, 'spool is full: QoS 0 events are dropped (not stored), QoS 1 publishers are not acknowledged until InfluxDB catches up');
      }
      if (!store.isOpen && qos > 0) return Promise.reject(new Error('gateway is shutting down'));
      return undefined;
    }
    return this.storeWhenSpace(name, event);
  }

  /** Appends once the spool has room; resolves when the line is durable (or appended, without DURABLE_ACK). */
  private storeWhenSpace<K extends StorableName>(name: K, event: StorableEvents[K]): Promise<void> {
    const { store } = this;
    return store.whenSpace().then(() => {
      if (store.keep(name, event)) return this.durableAck ? store.committed() : undefined;
      if (!store.isOpen) throw new Error('gateway is shutting down');
      return this.storeWhenSpace(name, event);
    });
  }
}
