import { isUtf8 } from 'node:buffer';
import { logError, logWarn } from '../core/errors.js';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { newEventId } from '../core/ids.js';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { ActuatorStateEvent, AlarmAckEvent, DeadLetterEvent, DeadLetterReason } from '../core/events.js';
import type { ActuatorDirectory, AlarmDirectory } from '../core/directory.js';
import type { NativeRouter } from '../devices/router.js';
import { NativeIngest } from './native.js';
import type { Metrics } from '../observability/metrics.js';
import type { IncomingPublish, PublishTarget } from '../broker/publish-pipeline.js';
import type { Publisher } from '../core/publisher.js';
import type { StorableEvents, StorableName, Store } from '../core/store.js';
import { BoundedMap } from '../core/bounded-map.js';
import { LogLimiter } from '../observability/log.js';
import { Reading, type Accepted } from './envelope.js';
import { DEAD_LETTER_PAYLOAD_CHARS, WHOLE_PAYLOAD_BYTES, printable } from './printable.js';
import { kindSpec } from '../core/kinds.js';
import { decodeReading } from './payload.js';
import { Series, SeriesCache } from './series.js';
import { parseTopic } from './topic.js';

export interface IngestOptions {
  readonly store: Store;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly log: Logger;
  readonly maxPayloadBytes: number;
  readonly staleAfterMs: number;
  /** Hold a QoS ≥ 1 acknowledgement until the event is on disk. */
  readonly durableAck: boolean;
  /** Which actuator a device is (for `devices/<device>/state`); none known without it. */
  readonly actuators?: ActuatorDirectory;
  /** Which alarms exist (for `alarms/<site>/<alarm id>/ack`); none without it. */
  readonly alarms?: AlarmDirectory;
  /** The native-device layer (gateway/devices/): topics that are not the contract's go there first. */
  readonly native?: NativeRouter;
}


/** A dead letter fed through ingest again (`redrive`): at its own time, its failures only noted. */
interface Redriving {
  readonly now: number;
  readonly failures: { reason: DeadLetterReason; detail: string }[];
}

/** A `ts` this far ahead of the gateway's clock is counted and said (gateway_future_ts_total, GW_ERR_CLOCK_AHEAD). */
const FUTURE_NOTED_MS = 2000;

const STATUS_VALUES: Readonly<Record<string, boolean>> = { online: true, offline: false, '"online"': true, '"offline"': false, true: true, false: false, '1': true, '0': false };
const ARMED_VALUES: Readonly<Record<string, boolean>> = {
  true: true, false: false, armed: true, disarmed: false, '"armed"': true, '"disarmed"': false, on: true, off: false, '1': true, '0': false,
};

/**
 * Turns what devices publish into events: parses the topic, validates the payload, stamps the
 * envelope, drops duplicates, keeps the event in the spool and announces it on the bus.
 * Whatever is wrong becomes a dead letter with a reason; nothing here throws at the broker.
 *
 * `handle` returns a promise when the publisher's acknowledgement must wait (QoS ≥ 1 until
 * the event is durable, or until the spool has room again), else undefined.
 */
export class Ingest implements PublishTarget {
  private readonly series: SeriesCache;
  /** Readings whose acknowledgement waits (on the spool), by id or packet: what a resend must wait for too. */
  private readonly awaitingOriginal = new Map<string, Promise<void>>();
  /** clientId/messageId → payload checksum, to recognise a QoS 1 redelivery (DUP) without an id. */
  private readonly seenPackets = new BoundedMap<string, number>(200_000);
  private readonly logLimiter: LogLimiter;
  private readonly nativeIngest: NativeIngest | undefined;
  private redriving: Redriving | undefined;
  /** Devices already told about (id reuse, a clock ahead): said once per device. */
  private readonly warnedReuse = new BoundedMap<string, true>(10_000);
  private readonly warnedAhead = new BoundedMap<string, true>(10_000);

  constructor(private readonly o: IngestOptions) {
    this.logLimiter = new LogLimiter(o.log);
    this.series = new SeriesCache(o.clock.now());
    this.nativeIngest = o.native ? new NativeIngest(o.native, this, o.metrics, o.maxPayloadBytes) : undefined;
  }

  /** The gateway's time, or a redriven dead letter's. */
  now(): number {
    return this.redriving?.now ?? this.o.clock.now();
  }

  get isRedriving(): boolean {
    return this.redriving !== undefined;
  }

  /**
   * Feeds a kept dead letter through ingest again, as received at `receivedAtMs`: what it yields
   * now is kept at its original time (as history, never ruled again); what still fails is only
   * reported, not dead-lettered twice.
   */
  redrive(clientId: string | null, topic: string, payload: Buffer, receivedAtMs: number): { kept: boolean; failures: { reason: DeadLetterReason; detail: string }[] } {
    const ctx: Redriving = { now: receivedAtMs, failures: [] };
    this.redriving = ctx;
    let pending: Promise<void> | undefined;
    try {
      pending = this.handle(clientId, { topic, payload, qos: 0, dup: false });
    } finally {
      this.redriving = undefined;
    }
    void pending;
    return { kept: ctx.failures.length === 0, failures: ctx.failures };
  }

  handle(clientId: string | null, packet: IncomingPublish): Promise<void> | undefined {
    try {
      return this.route(clientId, packet);
    } catch (err) {
      // A bug must not take the broker down nor lose the message: dead-letter it.
      if (this.logLimiter.allow('ingest failed')) this.o.log.error({ err, topic: packet.topic, clientId }, 'ingest failed on a message');
      try {
        return this.deadLetter(clientId, packet, 'internal_error', `the gateway could not process this message: ${(err as Error).message}`);
      } catch (again) {
        // Not even the dead letter could be kept (the store itself is failing): refuse the
        // publish (QoS 1 is not acknowledged, the device resends) rather than throw at the broker.
        this.o.metrics.dropped.inc({ reason: 'internal_error' });
        return packet.qos > 0 ? Promise.reject(again instanceof Error ? again : new Error(String(again))) : undefined;
      }
    }
  }

  private route(clientId: string | null, packet: IncomingPublish): Promise<void> | undefined {
    const known = this.series.get(packet.topic);
    if (known) return this.reading(clientId, packet, known);
    const route = parseTopic(packet.topic);
    switch (route.route) {
      case 'reading':
        return this.reading(clientId, packet, this.series.add(packet.topic, new Series(route.site, route.zone, route.device, route.kind, this.series.fenceMs(this.o.clock.now()))));
      case 'status':
        return this.status(clientId, packet, route.device);
      case 'zoneArmed':
        return this.zoneArmed(clientId, packet, route.site, route.zone);
      case 'actuatorState':
        return this.actuatorState(clientId, packet, route.device);
      case 'alarmAck':
        return this.alarmAck(clientId, packet, route.site, route.alarmId);
      case 'reserved':
        return undefined;
      case 'invalid':
        if (route.code === 'unknown_topic' && this.nativeIngest) return this.nativeIngest.handle(clientId, packet, route.detail);
        return this.deadLetter(clientId, packet, route.code, route.detail);
    }
  }

  private reading(clientId: string | null, packet: IncomingPublish, series: Series): Promise<void> | undefined {
    const now = this.now();
    const decoded = decodeReading(series.kind, packet.payload, now, this.o.maxPayloadBytes);
    if (!decoded.ok) return this.deadLetter(clientId, packet, decoded.code, decoded.detail);
    const { reading } = decoded;
    const numeric = (kindSpec(series.kind)?.toNumber ?? Number)(reading.value);
    // A redriven reading without its own id gets one from its dead letter's time: the same each time.
    const id = reading.id ?? (this.redriving ? `redrive-${packet.topic}-${now}` : undefined);
    return this.accept(clientId, packet, series, { value: reading.value, numeric, tsMs: reading.tsMs, seq: reading.seq, id }, now);
  }

  /** The series of a place and kind (the contract topic it would have), shared with readings sent on that topic. */
  seriesOf(site: string, zone: string, device: string, kind: string): Series {
    const topic = `sensors/${site}/${zone}/${device}/${kind}`;
    return this.series.get(topic) ?? this.series.add(topic, new Series(site, zone, device, kind, this.series.fenceMs(this.o.clock.now())));
  }

  /** Keeps a validated reading (a duplicate is counted, not kept), then announces it; the acknowledgement's promise. */
  accept(clientId: string | null, packet: Pick<IncomingPublish, 'topic' | 'payload' | 'qos' | 'dup' | 'messageId'>, series: Series, reading: Accepted, now: number): Promise<void> | undefined {
    const { site, zone, device, kind } = series;
    const { numeric } = reading;
    if (reading.id !== undefined) {
      // A duplicate is the same id with the same content; the same id with other content is a new reading.
      const admission = series.memory.admit(reading.id, numeric, reading.tsMs);
      if (admission === 'duplicate') return this.duplicate(clientId, packet, `${packet.topic}\n${reading.id}\n${numeric}|${reading.tsMs}`, reading.id);
      if (admission === 'reuse') this.idReused(clientId, packet.topic, device, kind, reading.id);
    } else if (this.isRedelivery(clientId, packet)) {
      return this.duplicate(clientId, packet, `${clientId ?? ''}/${packet.messageId}`, undefined);
    }
    // A reading without ts is at the moment it arrived (never ahead of the clock); a redriven one
    // keeps its dead letter's own time (the same point however often it is redriven) and is history.
    const timeMs = reading.tsMs ?? now;
    // Recency is judged by what the gateway saw: a device clock ahead of it cannot make later readings history.
    const judgedMs = timeMs < now ? timeMs : now;
    const latest = series.latestMs;
    const isHistory = this.redriving !== undefined || (latest !== undefined && judgedMs < latest) || judgedMs < now - this.o.staleAfterMs;
    if (!isHistory) series.latestMs = judgedMs;
    if (timeMs > now + FUTURE_NOTED_MS) this.clockAhead(clientId, packet.topic, device, kind, timeMs - now);
    const event = new Reading(
      reading.id ?? newEventId(),
      series.type,
      series.source,
      site,
      zone,
      device,
      kind,
      reading.value,
      numeric,
      reading.seq,
      timeMs,
      now,
      clientId ?? undefined,
      series.memory,
    );
    const kept = this.keep('reading', event, packet.qos, () => {
      this.o.metrics.countReading(kind);
      if (isHistory) {
        this.o.metrics.history.inc({ kind });
        this.o.bus.emit('history', event);
      } else {
        this.o.bus.emit('reading', event);
      }
    });
    if (kept) {
      const dupKey = reading.id !== undefined ? `${packet.topic}\n${reading.id}\n${numeric}|${reading.tsMs}` : packet.qos > 0 && packet.messageId !== undefined ? `${clientId ?? ''}/${packet.messageId}` : undefined;
      if (dupKey !== undefined) {
        this.awaitingOriginal.set(dupKey, kept);
        const done = (): void => void this.awaitingOriginal.delete(dupKey);
        kept.then(done, done);
      }
    }
    return kept;
  }

  /**
   * A resend: not stored or ruled twice. Acknowledged once the original is durable: if it is
   * still waiting (spool busy or full), so does its resend; a resend must never be acknowledged
   * ahead of what it repeats.
   */
  private duplicate(clientId: string | null, packet: IncomingPublish, key: string, id: string | undefined): Promise<void> | undefined {
    this.o.metrics.duplicates.inc();
    if (this.logLimiter.allow('duplicate')) this.o.log.info({ topic: packet.topic, eventId: id, clientId, messageId: packet.messageId }, 'duplicate reading dropped (sent again with the same id and content)');
    return this.awaitingOriginal.get(key);
  }

  /** The same id with other content: a new reading (a device whose counter restarted); said once per device. */
  private idReused(clientId: string | null, topic: string, device: string, kind: string, id: string): void {
    this.o.metrics.idReuse.inc({ kind });
    if (this.warnedReuse.has(device)) return;
    this.warnedReuse.set(device, true);
    logWarn(this.o.log, 'GW_ERR_ID_REUSE', { device, topic, eventId: id, clientId }, 'a reading id came again with other content: kept as a new reading (the device reuses ids, e.g. its counter restarted); said once per device');
  }

  /** A `ts` ahead of the gateway's clock (within the allowed skew): stored at its ts, judged by when it arrived. */
  private clockAhead(clientId: string | null, topic: string, device: string, kind: string, aheadMs: number): void {
    this.o.metrics.futureTs.inc({ kind });
    if (this.warnedAhead.has(device)) return;
    this.warnedAhead.set(device, true);
    logWarn(this.o.log, 'GW_ERR_CLOCK_AHEAD', { device, topic, aheadMs, clientId }, 'a reading is dated ahead of the gateway clock: stored at its ts, judged by when it arrived; check the device clock (said once per device)');
  }

  /** A reading without an id can only be recognised as a QoS 1 redelivery of the same packet. */
  isRedelivery(clientId: string | null, packet: IncomingPublish): boolean {
    if (packet.qos === 0 || packet.messageId === undefined) return false;
    // Message ids are reused, so only a DUP packet can be a redelivery of the last one with its id.
    const key = `${clientId ?? ''}/${packet.messageId}`;
    const sum = crc32(packet.payload, crc32(packet.topic));
    const duplicate = packet.dup && this.seenPackets.get(key) === sum;
    this.seenPackets.set(key, sum);
    return duplicate;
  }

  private status(clientId: string | null, packet: IncomingPublish, device: string): Promise<void> | undefined {
    const online = STATUS_VALUES[packet.payload.toString('utf8').trim().toLowerCase()];
    if (online === undefined) return this.deadLetter(clientId, packet, 'invalid_payload', 'device status must be "online" or "offline"');
    if (this.redriving) return undefined;
    return this.keepStatus(clientId, device, online, packet.qos);
  }

  /** A device's online state (its own status topic, or a native device's availability). */
  keepStatus(clientId: string | null, device: string, online: boolean, qos: 0 | 1 | 2): Promise<void> | undefined {
    const timeMs = this.o.clock.now();
    const event = { id: newEventId(), device, online, time: new Date(timeMs).toISOString(), timeMs, clientId: clientId ?? undefined };
    return this.keep('deviceStatus', event, qos, () => this.o.bus.emit('deviceStatus', event));
  }

  /** What an actuator reported: stored, and on the bus for the live page and command confirmation. */
  keepActuatorState(event: ActuatorStateEvent, qos: 0 | 1 | 2): Promise<void> | undefined {
    return this.keep('actuatorState', event, qos, () => this.o.bus.emit('actuatorState', event));
  }

  private zoneArmed(clientId: string | null, packet: IncomingPublish, site: string, zone: string): Promise<void> | undefined {
    const armed = ARMED_VALUES[packet.payload.toString('utf8').trim().toLowerCase()];
    if (armed === undefined) return this.deadLetter(clientId, packet, 'invalid_payload', 'zone armed state must be true/false (or "armed"/"disarmed")');
    if (this.redriving) return undefined;
    const timeMs = this.o.clock.now();
    const event = { id: newEventId(), site, zone, armed, time: new Date(timeMs).toISOString(), timeMs };
    return this.keep('zoneArmed', event, packet.qos, () => this.o.bus.emit('zoneArmed', event));
  }

  /** What an actuator reports it is doing: a JSON object shaped like a command's data. */
  private actuatorState(clientId: string | null, packet: IncomingPublish, device: string): Promise<void> | undefined {
    const parsed = jsonObject(packet.payload, this.o.maxPayloadBytes, 'an actuator state');
    if (!parsed.ok) return this.deadLetter(clientId, packet, parsed.code, parsed.detail);
    const ref = this.o.actuators?.actuatorOf(device) ?? { problem: 'this gateway knows no actuators' };
    if ('problem' in ref) return this.deadLetter(clientId, packet, 'unknown_actuator', ref.problem);
    const timeMs = this.o.clock.now();
    const event: ActuatorStateEvent = { id: newEventId(), site: ref.site, zone: ref.zone, actuator: ref.actuator, state: parsed.value, device, time: new Date(timeMs).toISOString(), timeMs, clientId: clientId ?? undefined };
    return this.keepActuatorState(event, packet.qos);
  }

  /**
   * An operator acknowledges an alarm: an empty payload, or `{"by": "…", "note": "…"}`. The rules
   * store the transition; an unknown alarm is a dead letter.
   */
  private alarmAck(clientId: string | null, packet: IncomingPublish, site: string, alarmId: string): Promise<void> | undefined {
    let by: string | undefined;
    let note: string | undefined;
    if (packet.payload.length > 0 && packet.payload.toString('utf8').trim() !== '') {
      const parsed = jsonObject(packet.payload, this.o.maxPayloadBytes, 'an acknowledgement');
      if (!parsed.ok) return this.deadLetter(clientId, packet, parsed.code, parsed.detail);
      const { by: givenBy, note: givenNote } = parsed.value;
      if ((givenBy !== undefined && typeof givenBy !== 'string') || (givenNote !== undefined && typeof givenNote !== 'string')) {
        return this.deadLetter(clientId, packet, 'invalid_payload', 'an acknowledgement is empty or {"by": "<who>", "note": "<text>"} (strings)');
      }
      by = givenBy?.slice(0, 200);
      note = givenNote?.slice(0, 1000);
    }
    if (!this.o.alarms?.knows(alarmId, site)) return this.deadLetter(clientId, packet, 'unknown_alarm', `no alarm ${alarmId} in site ${site} is known (active, or cleared recently)`);
    const timeMs = this.o.clock.now();
    const event: AlarmAckEvent = { id: newEventId(), site, alarmId, by: by ?? clientId ?? 'mqtt', note, time: new Date(timeMs).toISOString(), timeMs };
    this.o.bus.emit('alarmAck', event);
    // The transition is kept by the rules, synchronously in the announcement above.
    return packet.qos > 0 && this.o.durableAck ? this.o.store.committed() : undefined;
  }

  /** Records a dead letter: on `gateway/deadletter`, in InfluxDB, in the metrics and the log. */
  deadLetter(clientId: string | null, packet: Pick<IncomingPublish, 'topic' | 'payload' | 'qos' | 'verdict'>, reason: DeadLetterReason, detail: string, whole = false): Promise<void> | undefined {
    // The broker then keeps no retained copy of it (broker/retained.ts).
    if (packet.verdict) packet.verdict.deadLettered = true;
    if (this.redriving) {
      this.redriving.failures.push({ reason, detail });
      return undefined;
    }
    const event = this.deadLetterEvent(clientId, packet, reason, detail, whole);
    return this.keep('deadletter', event, packet.qos, () => this.announceDeadLetter(event));
  }

  /**
   * A point the store refused on its own (storage's sink): its dead letter, kept even when the
   * spool is full (the sink must not wait on room only it can make). Resolves once it is durable,
   * so the refused point can leave the spool; rejects when the spool is closing.
   */
  storeRefused(measurement: string, line: string, reason: string): Promise<void> {
    const event = this.deadLetterEvent(null, { topic: `influx:${measurement}`, payload: Buffer.from(line) }, 'rejected_by_store', reason);
    if (!this.o.store.keep('deadletter', event, true)) return Promise.reject(new Error('the spool is closed'));
    this.announceDeadLetter(event);
    return this.o.store.committed();
  }

  private deadLetterEvent(clientId: string | null, packet: Pick<IncomingPublish, 'topic' | 'payload'>, reason: DeadLetterReason, detail: string, whole = false): DeadLetterEvent {
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
    if (this.logLimiter.allow(`dead letter: ${reason}`)) this.o.log.warn({ eventId: event.id, reason, detail, topic: packet.topic, clientId }, 'dead letter');
    return event;
  }

  private announceDeadLetter(event: DeadLetterEvent): void {
    this.o.metrics.deadLetters.inc({ reason: event.reason });
    this.o.bus.emit('deadletter', event);
    const message = JSON.stringify({ topic: event.topic, payload: event.payload, reason: event.reason, detail: event.detail, receivedAt: event.receivedAt, clientId: event.clientId, id: event.id });
    this.o.publisher.publish('gateway/deadletter', message, 0).catch((err: unknown) => this.o.log.error({ err, eventId: event.id }, 'could not publish a dead letter'));
  }

  /**
   * Keeps a point in the spool, then announces the event. With the spool full, a QoS 0 event
   * is still announced (rules must see a smoke alarm) but not stored, and counted as dropped;
   * a QoS ≥ 1 event waits, unacknowledged, until there is room.
   */
  private keep<K extends StorableName>(name: K, event: StorableEvents[K], qos: 0 | 1 | 2, announce: () => void): Promise<void> | undefined {
    const { store } = this.o;
    if (store.keep(name, event)) {
      announce();
      return qos > 0 && this.o.durableAck ? store.committed() : undefined;
    }
    // The spool is full (or closing). Rules see the event now either way: a smoke alarm must not
    // wait for InfluxDB. Only storing it, and a QoS 1 acknowledgement, wait.
    announce();
    if (qos === 0 || !store.isOpen) {
      const reason = store.isOpen ? (store.fullReason?.() ?? 'spool_full') : 'shutting_down';
      this.o.metrics.dropped.inc({ reason });
      // A full disk is said by the spool itself (GW_ERR_SPOOL_DISK_FULL, GW_ERR_SPOOL_WRITE).
      if (reason === 'spool_full' && this.logLimiter.allow('spool full')) {
        logError(this.o.log, 'GW_ERR_SPOOL_FULL', {}, 'spool is full: QoS 0 events are dropped (not stored), QoS 1 publishers are not acknowledged until InfluxDB catches up');
      }
      if (!store.isOpen && qos > 0) return Promise.reject(new Error('gateway is shutting down'));
      return undefined;
    }
    return this.storeWhenSpace(name, event);
  }

  /** Appends once the spool has room; resolves when the line is durable (or appended, without DURABLE_ACK). */
  private storeWhenSpace<K extends StorableName>(name: K, event: StorableEvents[K]): Promise<void> {
    const { store } = this.o;
    return store.whenSpace().then(() => {
      if (store.keep(name, event)) return this.o.durableAck ? store.committed() : undefined;
      if (!store.isOpen) throw new Error('gateway is shutting down');
      return this.storeWhenSpace(name, event);
    });
  }
}

type Parsed = { readonly ok: true; readonly value: Readonly<Record<string, unknown>> } | { readonly ok: false; readonly code: DeadLetterReason; readonly detail: string };

/** A payload that must be one JSON object. */
function jsonObject(payload: Buffer, maxBytes: number, what: string): Parsed {
  if (payload.length > maxBytes) return { ok: false, code: 'payload_too_large', detail: `${what} is ${payload.length} bytes, more than MAX_PAYLOAD_BYTES (${maxBytes})` };
  if (!isUtf8(payload)) return { ok: false, code: 'invalid_encoding', detail: `${what} must be UTF-8 JSON` };
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'invalid_json', detail: `${what} is not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, code: 'invalid_payload', detail: `${what} must be a JSON object (e.g. {"mode":"cool","setpoint":22})` };
  return { ok: true, value: value as Record<string, unknown> };
}
