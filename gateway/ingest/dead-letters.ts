import type { DeadLetterEvent, DeadLetterReason } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import type { IncomingPublish } from '../broker/publish-pipeline.js';
import { LogLimiter } from '../observability/log.js';
import type { IngestOptions } from './ingest.js';
import { DEAD_LETTER_PAYLOAD_CHARS, WHOLE_PAYLOAD_BYTES, printable } from './printable.js';

type DeadLetterOfficeOptions = Pick<IngestOptions, 'store' | 'bus' | 'metrics' | 'publisher' | 'clock' | 'log'>;

/** Dead letters: made with their reason, said in the log, counted, on `gateway/deadletter` and on the bus. */
export class DeadLetterOffice {
  private readonly logLimiter: LogLimiter;
  /** A device waiting for a zone is a state, not an error: said once per device per 10 minutes. */
  private readonly waitingLimiter: LogLimiter;

  constructor(private readonly o: DeadLetterOfficeOptions) {
    this.logLimiter = new LogLimiter(o.log, 20, 10_000, () => o.clock.now());
    this.waitingLimiter = new LogLimiter(o.log, 1, 600_000, () => o.clock.now());
  }

  /**
   * A point the store refused on its own (storage's sink): its dead letter, kept even when the
   * spool is full (the sink must not wait on room only it can make). Resolves once it is durable,
   * so the refused point can leave the spool; rejects when the spool is closing.
   */
  storeRefused(measurement: string, line: string, reason: string): Promise<void> {
    const event = this.make(null, { topic: `influx:${measurement}`, payload: Buffer.from(line) }, 'rejected_by_store', reason);
    if (!this.o.store.keep('deadletter', event, true)) return Promise.reject(new Error('the spool is closed'));
    this.announce(event);
    return this.o.store.committed();
  }

  make(clientId: string | null, packet: Pick<IncomingPublish, 'topic' | 'payload'>, reason: DeadLetterReason, detail: string, whole = false): DeadLetterEvent {
    const now = this.o.clock.now();
    const event: DeadLetterEvent = {
      id: newEventId(),
      topic: packet.topic,
      // `whole`: a payload to be redriven later (a device waiting for a zone) is kept whole, as far as InfluxDB stores a string.
      payload: printable(packet.payload, whole && packet.payload.length <= WHOLE_PAYLOAD_BYTES ? WHOLE_PAYLOAD_BYTES : DEAD_LETTER_PAYLOAD_CHARS),
      reason,
      detail,
      receivedAt: new Date(now).toISOString(),
      timeMs: now,
      clientId,
    };
    if (reason === 'unassigned_device') {
      // One line per device and window, saying how many were not: the dead letters themselves are all kept.
      // Within the usual rate over all devices too: a bridge of many unplaced devices is not a line a message.
      const key = `waiting: ${detail.slice(0, detail.indexOf(' '))}`;
      const suppressed = this.waitingLimiter.admit(key);
      if (suppressed !== false) {
        if (this.logLimiter.allow(`dead letter: ${reason}`)) this.o.log.warn({ eventId: event.id, reason, detail, topic: packet.topic, clientId, suppressed }, 'dead letter');
        // Left out over all devices: the device's own line is not used up, its next message may say it.
        else this.waitingLimiter.refund(key, suppressed);
      }
    } else if (this.logLimiter.allow(`dead letter: ${reason}`)) this.o.log.warn({ eventId: event.id, reason, detail, topic: packet.topic, clientId }, 'dead letter');
    return event;
  }

  announce(event: DeadLetterEvent): void {
    this.o.metrics.deadLetters.inc({ reason: event.reason });
    this.o.bus.emit('deadletter', event);
    const message = JSON.stringify({ topic: event.topic, payload: event.payload, reason: event.reason, detail: event.detail, receivedAt: event.receivedAt, clientId: event.clientId, id: event.id });
    this.o.publisher.publish('gateway/deadletter', message, 0).catch((err: unknown) => this.o.log.error({ err, eventId: event.id }, 'could not publish a dead letter'));
  }
}
