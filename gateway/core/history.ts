import type { ActuatorStateEvent, AlarmTransition, AlarmTransitionEvent, AlertEvent, CommandEvent, CommandStatusEvent, DeviceSilenceEvent, DeviceStatusEvent, ReadingEvent, ZoneArmedEvent } from './events.js';

/** A stored event read back, tagged with what it is. */
export type HistoryItem =
  | { readonly type: 'reading'; readonly event: ReadingEvent }
  | { readonly type: 'zoneArmed'; readonly event: ZoneArmedEvent }
  | { readonly type: 'command'; readonly event: CommandEvent }
  | { readonly type: 'actuatorState'; readonly event: ActuatorStateEvent }
  | { readonly type: 'commandStatus'; readonly event: CommandStatusEvent }
  | { readonly type: 'alarm'; readonly event: AlarmTransitionEvent }
  | { readonly type: 'alert'; readonly event: AlertEvent }
  /** What a device said on its status topic (`device_status` without `silent`). */
  | { readonly type: 'deviceStatus'; readonly event: DeviceStatusEvent }
  /** The gateway found it silent, or heard it again (`device_status` with `silent`; lastHeardMs is not stored: the point's time). */
  | { readonly type: 'deviceSilence'; readonly event: DeviceSilenceEvent };

export type HistoryType = HistoryItem['type'];

/** What a device said, or what the gateway found of it: the `device_status` measurement's two kinds of point. */
export type DeviceHistoryItem = Extract<HistoryItem, { type: 'deviceStatus' | 'deviceSilence' }>;

/**
 * Same-millisecond order: a zone armed, or a device's status (it says online as it connects),
 * before the readings of its time; a reading before what it caused.
 */
export const HISTORY_ORDER: Readonly<Record<HistoryType, number>> = { zoneArmed: 0, deviceStatus: 1, reading: 2, command: 3, alert: 4, actuatorState: 5, commandStatus: 6, alarm: 7, deviceSilence: 8 };

export const itemTime = (item: HistoryItem): number => item.event.timeMs;

/**
 * Same-millisecond order of alarm transitions, the order they happen in: an acknowledgement with
 * `"clear": true` stores `acknowledged` and `cleared` at one time (two series: `transition` is a
 * tag), and InfluxDB returns them in either order; `cleared` is an alarm's end, so it comes last.
 */
const ALARM_TRANSITION_ORDER: Readonly<Record<AlarmTransition, number>> = { raised: 0, updated: 1, acknowledged: 2, cleared: 3 };

export function byTime(a: HistoryItem, b: HistoryItem): number {
  const order = itemTime(a) - itemTime(b) || HISTORY_ORDER[a.type] - HISTORY_ORDER[b.type];
  if (order !== 0 || a.type !== 'alarm' || b.type !== 'alarm') return order;
  return ALARM_TRANSITION_ORDER[a.event.transition] - ALARM_TRANSITION_ORDER[b.event.transition];
}

export interface HistoryRange {
  /** Inclusive, epoch ms. */
  readonly fromMs: number;
  /** Exclusive, epoch ms. */
  readonly toMs: number;
  /** Only these (default: every type but alerts and device statuses and silences). */
  readonly types?: readonly HistoryType[];
  readonly site?: string;
  /** Only these sites (none: nothing with a site); device statuses and silences, which name no site, are read whatever. */
  readonly sites?: readonly string[];
  readonly zone?: string;
  /** How much time one query covers. */
  readonly chunkMs?: number;
}

/** What waiting for the spool to drain came to (History.caughtUp). */
export type CatchUp = 'drained' | 'late' | 'down';

/**
 * The history port: what the gateway stored, read back (the rules rebuild their state from it at
 * start, the lab replays it, the trace follows a chain through it). storage/ implements it over
 * InfluxDB; rules/ and lab/ only know this.
 */
export interface History {
  /** Where it reads from, for logs. */
  readonly description: string;
  /**
   * Waits (at most `timeoutMs`) until everything kept so far can be read back: `drained` once the
   * spool has drained into the database, `late` when the time ran out first, `down` at once when
   * the database does not answer (no drain can happen, and a read would fail or hang).
   */
  caughtUp(timeoutMs: number): Promise<CatchUp>;
  /**
   * What stood before `ms`, whatever its age: the last command and the last reported state of each
   * actuator, the armed state of each zone, the last transition of each alarm, and the last
   * `device_status` point of each device (a status or a silence: one row per device). With
   * `sites`, what names a site only of those.
   */
  latestBefore(ms: number, sites?: readonly string[]): Promise<HistoryItem[]>;
  /** Every site stored (a cluster partition's rebuild asks InfluxDB for its own sites only); none when it cannot tell. */
  sites?(): Promise<string[]>;
  /** The events of a time range in time order (`byTime`), one chunk of time after another. */
  read(range: HistoryRange): AsyncIterable<HistoryItem[]>;
  /**
   * Every stored event whose own id, correlation id, command id or alarm id is one of `ids`
   * (readings by their id): the links of a trace.
   */
  related(ids: readonly string[], range?: { readonly fromMs?: number; readonly toMs?: number }): Promise<HistoryItem[]>;
}
