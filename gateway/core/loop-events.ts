/**
 * The events that close the loop on what the rules did: alarms through their life, commands
 * through their saga, an operator's acknowledgement (re-exported by events.ts).
 */
import type { CommandData, Severity } from './events.js';

export type AlarmTransition = 'raised' | 'updated' | 'acknowledged' | 'cleared';

/**
 * One step of an alarm's life (measurement `alarms`): raised once, updated while its condition
 * holds, acknowledged by an operator, cleared when it stops holding. Every transition carries the
 * whole alarm as it stands, so the last one of an alarm is enough to know it (rebuilds read that).
 * An alarm is identified by rule + site + zone (+ device, where the rule is per device; + actuator,
 * for the gateway's own `actuator_unresponsive` and `manual_override`).
 */
/** An alarm as it stands: what a transition carries, and what the API and the live page show. */
export interface AlarmState {
  readonly rule: string;
  /** The alert type (`safety.smoke`). */
  readonly type: string;
  readonly severity: Severity;
  readonly site: string;
  readonly zone: string;
  /** Set when the alarm is per device. */
  readonly device: string | undefined;
  /** Set for the gateway's own actuator alarms. */
  readonly actuator: string | undefined;
  readonly message: string;
  /** Firings since it was raised. */
  readonly count: number;
  /** The value of the last reading that fired it. */
  readonly value: unknown;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly acknowledged: boolean;
  readonly acknowledgedBy: string | undefined;
  /** When the last notification (raise or repeat) went out on `alerts/…`, epoch ms. */
  readonly notifiedAt: number;
  readonly notifications: number;
}

export interface AlarmTransitionEvent extends AlarmState {
  /** This transition's event id. */
  readonly id: string;
  readonly alarmId: string;
  readonly transition: AlarmTransition;
  /** Whether it is active after this transition (false once cleared, acknowledgements after that included). */
  readonly active: boolean;
  /** The reading (or command) that caused this transition. */
  readonly correlationId: string;
  /** Why it was cleared or who acknowledged it, for people. */
  readonly reason: string | undefined;
  /** The facts that decided the firing behind a raise or an update (JSON-able). */
  readonly facts: readonly DecidingFact[] | undefined;
  readonly time: string;
  readonly timeMs: number;
}

/** The reason rules/alarms.ts' `acknowledge` stores with an operator's clear: `cleared by <who>[: <note>]`. */
const BY_OPERATOR = 'cleared by ';

/**
 * A transition that is an operator's clear of an alarm naming a device: the device is taken as
 * removed (rules/operator-clear.ts; ingest/silence.ts stops watching it). Here, beside the event,
 * because both the rules and ingest read it.
 */
export function isOperatorClear(t: AlarmTransitionEvent): t is AlarmTransitionEvent & { readonly device: string } {
  return t.transition === 'cleared' && t.device !== undefined && t.reason?.startsWith(BY_OPERATOR) === true;
}

/** One condition of a rule as it was judged when the rule fired: `value` 31 `greaterThan` 28 → true. */
export interface DecidingFact {
  readonly fact: string;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly operator: string;
  readonly value: unknown;
  readonly factResult: unknown;
  readonly result: boolean;
}

/**
 * A command's saga (measurement `command_status`): `sent`, then `confirmed` when the actuator
 * reports the commanded state, or `retried` (resent) and in the end `failed` (then the
 * `actuator_unresponsive` alarm); `overridden` when someone changed the actuator by hand
 * afterwards; `superseded` when a newer command took its place before it was confirmed.
 */
export type CommandStatus = 'sent' | 'confirmed' | 'retried' | 'failed' | 'overridden' | 'superseded';

export interface CommandStatusEvent {
  readonly id: string;
  readonly commandId: string;
  readonly status: CommandStatus;
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly rule: string;
  /** 0 for the first send; n for the n-th resend. */
  readonly attempt: number;
  /** What was commanded. */
  readonly data: CommandData;
  /** What the actuator reported (confirmed, overridden). */
  readonly reported: Readonly<Record<string, unknown>> | undefined;
  /** The reading that caused the command. */
  readonly correlationId: string;
  readonly detail: string | undefined;
  readonly time: string;
  readonly timeMs: number;
}

/** An operator acknowledges an alarm: `alarms/<site>/<alarm id>/ack` (MQTT, admin) or `POST /api/alarms/<id>/ack`. */
export interface AlarmAckEvent {
  readonly id: string;
  readonly site: string | undefined;
  readonly alarmId: string;
  /** Who: the MQTT username or client id, or what the HTTP caller said. */
  readonly by: string;
  readonly note: string | undefined;
  /** And cleared: the operator says it is over (a detector removed while in alarm never reports clear). */
  readonly clear?: boolean;
  readonly time: string;
  readonly timeMs: number;
}
