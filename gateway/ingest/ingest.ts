import type { Logger } from 'pino';
import { nativeStatusId, newEventId } from '../core/ids.js';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { ActuatorStateEvent, AlarmAckEvent, DeadLetterReason } from '../core/events.js';
import type { ActuatorDirectory, AlarmDirectory } from '../core/directory.js';
import type { NativeRouter } from '../devices/router.js';
import { NativeIngest, type NativeKeypad } from './native.js';
import { SpoolAdmission } from './admission.js';
import { DeviceNotices } from './device-notices.js';
import { packetKey, readingKey, Resends } from './resends.js';
import { DeadLetterOffice } from './dead-letters.js';
import { jsonObject, parseAck, parseArmed, parseOnline } from './control.js';
import type { Metrics } from '../observability/metrics.js';
import type { IncomingPublish, PublishTarget } from '../broker/publish-pipeline.js';
import type { Publisher } from '../core/publisher.js';
import type { StorableEvents, StorableName, Store } from '../core/store.js';
import { LogLimiter } from '../observability/log.js';
import { Reading, type Accepted } from './envelope.js';
import { kindSpec } from '../core/kinds.js';
import { decodeReading } from './payload.js';
import { Series, SeriesCache } from './series.js';
import { parseTopic } from './topic.js';
import type { RedriveResult, Redriving } from './redrive.js';

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
  /** The hashed keypad codes (DATA_DIR/keypad-codes.json): the gateway is the alarm panel of Zigbee2MQTT keypads (keypad.ts). */
  readonly keypad?: NativeKeypad;
}

/** A `ts` this far ahead of the gateway's clock is counted and said (gateway_future_ts_total, GW_ERR_CLOCK_AHEAD). */
const FUTURE_NOTED_MS = 2000;

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
  private readonly resends: Resends;
  private readonly notices: DeviceNotices;
  private readonly logLimiter: LogLimiter;
  private readonly nativeIngest: NativeIngest | undefined;
  private readonly admission: SpoolAdmission;
  private readonly deadLetters: DeadLetterOffice;
  private redriving: Redriving | undefined;

  constructor(private readonly o: IngestOptions) {
    this.logLimiter = new LogLimiter(o.log);
    this.series = new SeriesCache(o.clock.now());
    this.resends = new Resends(o.metrics, o.log);
    this.notices = new DeviceNotices(o.metrics, o.log);
    this.admission = new SpoolAdmission(o.store, o.metrics, o.log, o.durableAck);
    this.deadLetters = new DeadLetterOffice(o);
    this.nativeIngest = o.native ? new NativeIngest(o.native, this, this.resends, o.metrics, o.maxPayloadBytes, o.keypad && { ...o.keypad, publisher: o.publisher, log: o.log, clock: o.clock, bus: o.bus }) : undefined;
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
  redrive(clientId: string | null, topic: string, payload: Buffer, receivedAtMs: number): RedriveResult {
    const ctx: Redriving = { now: receivedAtMs, failures: [], known: 0, fresh: 0 };
    this.redriving = ctx;
    let pending: Promise<void> | undefined;
    try {
      pending = this.handle(clientId, { topic, payload, qos: 0, dup: false });
    } finally {
      this.redriving = undefined;
    }
    void pending;
    // Kept only when it gave readings: no failure and nothing stored (a message recognised, nothing in it) is no redrive.
    const stored = ctx.failures.length === 0 && ctx.fresh + ctx.known > 0;
    return { kept: stored, alreadyStored: stored && ctx.fresh === 0, nothing: ctx.failures.length === 0 && !stored, failures: ctx.failures };
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

  resent(clientId: string | null, packet: IncomingPublish): void {
    this.resends.qos2Resent(clientId, packet);
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
      if (this.redriving) this.redriving[admission === 'duplicate' ? 'known' : 'fresh']++;
      if (admission === 'duplicate') return this.resends.duplicate(clientId, packet, readingKey(packet.topic, reading), reading.id);
      if (admission === 'reuse') this.notices.idReused(clientId, packet.topic, device, kind, reading.id);
    } else if (this.resends.isRedelivery(clientId, packet)) {
      return this.resends.duplicate(clientId, packet, packetKey(clientId, packet), undefined);
    }
    // A reading without ts is at the moment it arrived (never ahead of the clock); a redriven one
    // keeps its dead letter's own time (the same point however often it is redriven) and is history.
    const timeMs = reading.tsMs ?? now;
    // Recency is judged by what the gateway saw: a device clock ahead of it cannot make later readings history.
    const judgedMs = timeMs < now ? timeMs : now;
    const latest = series.latestMs;
    const isHistory = this.redriving !== undefined || (latest !== undefined && judgedMs < latest) || judgedMs < now - this.o.staleAfterMs;
    if (!isHistory) series.latestMs = judgedMs;
    this.notices.dated(clientId, packet.topic, device, kind, timeMs, reading.tsMs, now, FUTURE_NOTED_MS);
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
    if (kept) this.resends.awaiting(reading.id !== undefined ? readingKey(packet.topic, reading) : packet.qos > 0 && packet.messageId !== undefined ? packetKey(clientId, packet) : undefined, kept);
    return kept;
  }

  private status(clientId: string | null, packet: IncomingPublish, device: string): Promise<void> | undefined {
    const online = parseOnline(packet.payload, this.o.maxPayloadBytes);
    if (!online.ok) return this.deadLetter(clientId, packet, online.code, online.detail);
    if (this.redriving) return undefined;
    return this.keepStatus(clientId, device, online.value, packet.qos);
  }

  /** A device's online state (its own status topic, or a native device's availability). */
  keepStatus(clientId: string | null, device: string, online: boolean, qos: 0 | 1 | 2, native = false): Promise<void> | undefined {
    const timeMs = this.o.clock.now();
    const event = { id: native ? nativeStatusId() : newEventId(), device, online, time: new Date(timeMs).toISOString(), timeMs, clientId: clientId ?? undefined };
    return this.keep('deviceStatus', event, qos, () => this.o.bus.emit('deviceStatus', event));
  }

  /** What an actuator reported: stored, and on the bus for the live page and command confirmation. */
  keepActuatorState(event: ActuatorStateEvent, qos: 0 | 1 | 2): Promise<void> | undefined {
    return this.keep('actuatorState', event, qos, () => this.o.bus.emit('actuatorState', event));
  }

  private zoneArmed(clientId: string | null, packet: IncomingPublish, site: string, zone: string): Promise<void> | undefined {
    const armed = parseArmed(packet.payload, this.o.maxPayloadBytes);
    if (!armed.ok) return this.deadLetter(clientId, packet, armed.code, armed.detail);
    return this.redriving ? undefined : this.keepArmed(site, zone, armed.value, packet.qos);
  }

  /** A zone armed or disarmed (its topic, or a right code at its keypad: keypad.ts): kept, then on the bus for the rules. */
  keepArmed(site: string, zone: string, armed: boolean, qos: 0 | 1 | 2): Promise<void> | undefined {
    const timeMs = this.o.clock.now();
    const event = { id: newEventId(), site, zone, armed, time: new Date(timeMs).toISOString(), timeMs };
    return this.keep('zoneArmed', event, qos, () => this.o.bus.emit('zoneArmed', event));
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
    const ack = parseAck(packet.payload, this.o.maxPayloadBytes);
    if (!ack.ok) return this.deadLetter(clientId, packet, ack.code, ack.detail);
    const { by, note, clear } = ack.value;
    if (!this.o.alarms?.knows(alarmId, site)) return this.deadLetter(clientId, packet, 'unknown_alarm', `no alarm ${alarmId} in site ${site} is known (active, or cleared recently)`);
    const timeMs = this.o.clock.now();
    const event: AlarmAckEvent = { id: newEventId(), site, alarmId, by: by ?? clientId ?? 'mqtt', note, ...(clear ? { clear } : {}), time: new Date(timeMs).toISOString(), timeMs };
    this.o.bus.emit('alarmAck', event);
    // The transition is kept by the rules, synchronously in the announcement above.
    return packet.qos > 0 && this.o.durableAck ? this.o.store.committed() : undefined;
  }

  /** Records a dead letter: on `gateway/deadletter`, in InfluxDB, in the metrics and the log. */
  deadLetter(clientId: string | null, packet: Pick<IncomingPublish, 'topic' | 'payload' | 'qos' | 'verdict' | 'retain'>, reason: DeadLetterReason, detail: string, whole = false): Promise<void> | undefined {
    // An empty retained publish deletes a retained message, not a bad reading; a dead letter is never retained (broker/retained.ts).
    if (packet.retain && packet.payload.length === 0) return undefined;
    if (packet.verdict) packet.verdict.deadLettered = true;
    if (this.redriving) {
      this.redriving.failures.push({ reason, detail });
      return undefined;
    }
    const event = this.deadLetters.make(clientId, packet, reason, detail, whole);
    return this.keep('deadletter', event, packet.qos, () => this.deadLetters.announce(event));
  }

  /** A point the store refused on its own (storage's sink): see DeadLetterOffice.storeRefused. */
  storeRefused(measurement: string, line: string, reason: string): Promise<void> {
    return this.deadLetters.storeRefused(measurement, line, reason);
  }

  private keep<K extends StorableName>(name: K, event: StorableEvents[K], qos: 0 | 1 | 2, announce: () => void): Promise<void> | undefined {
    return this.admission.keep(name, event, qos, announce);
  }
}
