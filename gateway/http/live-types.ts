import type { Logger } from 'pino';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { Metrics } from '../observability/metrics.js';
import type { ReadingValue } from '../core/kinds.js';
import type { AlarmView } from '../rules/alarms.js';
import type { ActuatorView } from '../rules/service.js';
import type { PlacedDevice, WaitingDevice } from '../devices/service.js';

/** What the live page shows (its snapshot and the parts of it), and what it is built from. */

/**
 * What the live page remembers at most: devices, and each keyed table (actuators' commands, armed
 * zones, actuators' reports). Keys come from events, so a flood of made-up zones or devices would
 * grow them without end; far above what a page can show. Forgetting one is counted in
 * gateway_memory_evictions_total{map="live_…"} (the page shows it again at its next change).
 */
export const LIVE_BOUNDS = { devices: 10_000, keys: 10_000 } as const;

export interface LiveViewOptions {
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Longest a change waits before it is pushed; readings of one device in that time are coalesced. */
  readonly pushMs: number;
  /** Devices remembered (the least recently heard from is forgotten first); default LIVE_BOUNDS.devices. */
  readonly maxDevices?: number;
  /** Actuators' commands, armed zones and actuators' reports remembered, each (the one changed longest ago is forgotten first); default LIVE_BOUNDS.keys. */
  readonly maxKeys?: number;
  /** Events (commands, alerts, dead letters) a new viewer is shown. */
  readonly recentEvents?: number;
  /** Where the device map places a device (a status names only the device: an actuator-only native device sends nothing else). */
  readonly placeOf?: (device: string) => { readonly site: string; readonly zone: string } | undefined;
  /** The heard native devices the map places, and its changes: one placed since it last spoke is shown in its zone at once; one no longer placed (`has`: a friendly name's) leaves. */
  readonly placed?: { list(): readonly PlacedDevice[]; changes(listener: () => void): () => void; has(site: string, zone: string, device: string): boolean };
  /** Native devices waiting for a zone (the device registry), shown so someone places them. */
  readonly waiting?: () => readonly WaitingDevice[];
  /** Viewers at most, in all and per address (LIVE_MAX_VIEWERS*; 0 = no limit; default: none). */
  readonly maxViewers?: number;
  readonly maxViewersPerAddress?: number;
  /** A viewer with more than this unsent (at least twice the snapshot) is cut at once (LIVE_MAX_BEHIND_BYTES). */
  readonly maxBehindBytes?: number;
  /** The rules' view of actuators and alarms (commanded and reported state, sagas, active alarms). */
  readonly rules?: { actuators(): ActuatorView[]; alarms(): AlarmView[] };
}

/** An actuator's badge: what it was commanded, what it reported, and how the last command fares. */
export interface ActuatorBadge {
  readonly data: unknown;
  readonly time: number | undefined;
  readonly rule: string | undefined;
  readonly reported?: unknown;
  readonly reportedAt?: number | undefined;
  readonly status?: ActuatorView['status'];
}

/** What an actuator last reported it is doing (beside what it was last commanded). */
export type ReportedState = { readonly state: unknown; readonly time: number; readonly device: string };

export interface DeviceState {
  readonly device: string;
  site: string | null;
  zone: string | null;
  /** From `devices/<device>/status`; null until the device said. */
  online: boolean | null;
  /** Nothing heard from it for OFFLINE_AFTER_MS (ingest/silence.ts); absent until it first is. */
  silent?: boolean;
  /** Epoch ms of the last reading or status. */
  lastSeen: number;
  readonly readings: Record<string, { value: ReadingValue; time: number }>;
}

export type FeedEvent =
  | { kind: 'command'; id: string; time: number; site: string; zone: string; actuator: string; rule: string; data: unknown; correlationId: string }
  | { kind: 'alert'; id: string; time: number; site: string; zone: string; device: string; severity: string; rule: string; message: string; correlationId: string }
  | { kind: 'deadletter'; id: string; time: number; reason: string; topic: string; detail: string; clientId: string | null }
  | { kind: 'alarm'; id: string; time: number; alarmId: string; transition: string; site: string; zone: string; severity: string; rule: string; message: string; count: number; reason: string | null };

export interface LiveSnapshot {
  readonly devices: DeviceState[];
  readonly actuators: Record<string, ActuatorBadge>;
  /** `site/zone` → armed (security rules), for the zones an operator armed or disarmed. */
  readonly armed: Record<string, boolean>;
  /** The active alarms. */
  readonly alarms: AlarmView[];
  readonly events: FeedEvent[];
  readonly pushMs: number;
  /** `site/zone/actuator` → its last reported state. */
  readonly reported: Record<string, ReportedState>;
  readonly waiting: readonly WaitingDevice[];
}

