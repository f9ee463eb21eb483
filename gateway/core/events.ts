import type { Kind, ReadingValue } from './kinds.js';
import type { AlarmAckEvent, AlarmTransitionEvent, CommandStatusEvent, DecidingFact } from './loop-events.js';
import type { SeriesMemory } from './series-memory.js';

/**
 * The gateway's events: immutable facts with an id, a time, a source and (for what rules
 * produce) the correlation id of the reading that caused them.
 */

export type { AlarmAckEvent, AlarmState, AlarmTransition, AlarmTransitionEvent, CommandStatus, CommandStatusEvent, DecidingFact } from './loop-events.js';

/** A validated reading, stamped into its envelope (DESIGN.md: id, type, source, time, receivedAt, seq). */
export interface ReadingEvent {
  readonly id: string;
  readonly type: `sensor.${Kind}`;
  /** `<site>/<zone>/<device>` */
  readonly source: string;
  /** ISO-8601: the reading's `ts`, else when it was received. */
  readonly time: string;
  readonly receivedAt: string;
  readonly seq: number | undefined;
  readonly site: string;
  readonly zone: string;
  readonly device: string;
  readonly kind: Kind;
  readonly value: ReadingValue;
  /** The value as stored (booleans 1/0, keypad ok=1 fail=0). */
  readonly numeric: number;
  /** Epoch ms of `time`: the point's timestamp (to the ms; storage adds a sub-ms offset if the series needs one). */
  readonly timeMs: number;
  /** Epoch ms of `receivedAt`. */
  readonly receivedAtMs?: number;
  /**
   * The reading's time as far as the gateway can vouch for it: min(`timeMs`, `receivedAtMs`). A
   * device clock ahead of the gateway's cannot push it into the future; recency (history,
   * staleness, windows, held-for) is judged by it. Absent (a reading made outside ingest): `timeMs`.
   */
  readonly judgedMs?: number;
  readonly clientId: string | undefined;
  /** Ingest's memory of the reading's series (its dedupe), where the store places the point; absent for readings made elsewhere. */
  readonly memory?: SeriesMemory | undefined;
}

/** CloudEvents 1.0 (JSON) fields shared by commands and alerts. */
export interface CloudEventJson<T> {
  readonly specversion: '1.0';
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly time: string;
  readonly subject?: string;
  readonly datacontenttype: 'application/json';
  readonly correlationid: string;
  readonly data: T;
}

export type CommandData = Readonly<Record<string, unknown>>;

export interface AlertData {
  readonly severity: Severity;
  readonly message: string;
  readonly site: string;
  readonly zone: string;
  readonly device: string;
  readonly [extra: string]: unknown;
}

export type Severity = 'info' | 'warning' | 'critical';

export interface CommandEvent {
  readonly kind: 'command';
  /** Same as cloudEvent.id. */
  readonly id: string;
  /** Epoch ms of cloudEvent.time. */
  readonly timeMs: number;
  readonly topic: string;
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly rule: string;
  readonly cloudEvent: CloudEventJson<CommandData>;
  /** The conditions that decided the firing (stored with the command, for the trace). */
  readonly facts?: readonly DecidingFact[] | undefined;
}

export interface AlertEvent {
  readonly kind: 'alert';
  /** Same as cloudEvent.id. */
  readonly id: string;
  /** Epoch ms of cloudEvent.time. */
  readonly timeMs: number;
  readonly topic: string;
  readonly site: string;
  readonly severity: Severity;
  readonly rule: string;
  readonly cloudEvent: CloudEventJson<AlertData>;
  /** The alarm this notification is about (raise or repeat). */
  readonly alarmId?: string | undefined;
}

/** Every dead-letter reason (the `reason` field and tag): a redrive names one of these. */
export const DEAD_LETTER_REASONS = [
  'invalid_topic',
  'unknown_kind',
  'unknown_topic',
  'payload_too_large',
  'invalid_encoding',
  'invalid_json',
  'invalid_payload',
  'clock_skew',
  'rejected_by_store',
  /** `devices/<device>/state` from a device that is no known actuator (see README: which actuator a device is). */
  'unknown_actuator',
  /** `alarms/<site>/<alarm id>/ack` for an alarm the gateway does not know. */
  'unknown_alarm',
  /** A native device the device map does not place yet: its message is kept whole, to be redriven once it is placed. */
  'unassigned_device',
  /** The gateway's own bug while handling the message (logged as an error): kept, not blamed on the device. */
  'internal_error',
] as const;

export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** DESIGN.md: `{topic, payload, reason, receivedAt, clientId}`; `detail` says what exactly was wrong. */
export interface DeadLetterEvent {
  readonly id: string;
  readonly topic: string;
  readonly payload: string;
  readonly reason: DeadLetterReason;
  readonly detail: string;
  readonly receivedAt: string;
  /** Epoch ms of receivedAt. */
  readonly timeMs: number;
  readonly clientId: string | null;
}

export interface DeviceStatusEvent {
  readonly id: string;
  readonly device: string;
  readonly online: boolean;
  readonly time: string;
  readonly timeMs: number;
  readonly clientId: string | undefined;
}

/**
 * A device fell silent (nothing heard for OFFLINE_AFTER_MS, or a few of its usual intervals if
 * those are longer), or was heard again after it had. Stored as `device_status` with `online`
 * false/true and `silent`.
 */
export interface DeviceSilenceEvent {
  readonly id: string;
  readonly device: string;
  readonly silent: boolean;
  /** Epoch ms the gateway last heard from it. */
  readonly lastHeardMs: number;
  readonly time: string;
  readonly timeMs: number;
}

export interface ZoneArmedEvent {
  readonly id: string;
  readonly site: string;
  readonly zone: string;
  readonly armed: boolean;
  readonly time: string;
  readonly timeMs: number;
}

/**
 * What an actuator reports it is doing (DESIGN.md: measurement `actuator_state`): from a contract
 * device on `devices/<device>/state`, or from a native device through the device map. `state` is
 * shaped like a command's `data` (`{"mode":"cool","setpoint":22}`, `{"state":"on"}`).
 */
export interface ActuatorStateEvent {
  readonly id: string;
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly state: Readonly<Record<string, unknown>>;
  /** Who reported it: a contract device id, or `<family>:<native id>`. */
  readonly device: string;
  readonly time: string;
  readonly timeMs: number;
  readonly clientId: string | undefined;
  /**
   * The device had just come back (restarted, rejoined) when it sent this, and why the devices
   * layer says so; such a report is its power-on state, not a change by hand. Stored as the field
   * `came_back` (only when set), so a cluster's partition owner, which rules the stored line, knows it too.
   */
  readonly cameBack?: string;
}

/**
 * The native command that carried out a command event on an actuator the device map ties to a
 * native device (measurement `native_commands`): its topic and payload as published (QoS 1, not
 * retained), or why there is none (`error`).
 */
export interface NativeCommandEvent {
  readonly id: string;
  /** The command event (its CloudEvent id) this carries out. */
  readonly commandId: string;
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly family: string;
  /** `<family>:<native id>` */
  readonly device: string;
  readonly topic: string;
  readonly payload: string;
  readonly error?: string;
  readonly timeMs: number;
}

/** The gateway's own health over one interval (observability/stats.ts), kept like any event. */
export interface GatewayStatsEvent {
  readonly host: string;
  /** The gateway's node id (NODE_ID, else the host name): several gateways on one machine are told apart by it. */
  readonly node?: string;
  readonly timeMs: number;
  /** Integer fields: counts over the interval, and levels at `timeMs`. */
  readonly counts: Readonly<Record<string, number>>;
  /** Float fields; undefined = not measured in this interval (left out of the point). */
  readonly measures: Readonly<Record<string, number | undefined>>;
  readonly influxUp: boolean;
}

export type GatewayEvent =
  | ReadingEvent
  | CommandEvent
  | AlertEvent
  | DeadLetterEvent
  | DeviceStatusEvent
  | DeviceSilenceEvent
  | ZoneArmedEvent
  | ActuatorStateEvent
  | NativeCommandEvent
  | AlarmTransitionEvent
  | CommandStatusEvent
  | AlarmAckEvent;
