import type { StorableEvents, StorableName, Store } from '../core/store.js';
import type { Journal } from './journal.js';
import { actuatorStatePoint, alarmPoint, alertPoint, commandPoint, commandStatusPoint, deadLetterPoint, deviceSilencePoint, deviceStatusPoint, nativeCommandPoint, readingPoint, statsPoint, zoneArmedPoint } from './points.js';
import { SeriesTime } from './series-time.js';

type PointOf<K extends StorableName> = (event: StorableEvents[K], time: SeriesTime) => string;

/**
 * Each event as its point, at a time that no other event of its series holds: InfluxDB keys a
 * point by measurement, tags and time, so two events of one series in one millisecond would be
 * one point. One SeriesTime for the whole store, so an event made by ingest and one made by the
 * rules (a zone armed over MQTT and from code) cannot take the same point.
 */
const POINTS: { readonly [K in StorableName]: PointOf<K> } = {
  // A reading's time is its own (its `ts`, or the receive time ingest stamped for its series).
  reading: (e) => readingPoint(e, e.timeMs),
  command: (e, t) => commandPoint(e, t.next(`commands/${e.site}/${e.zone}/${e.actuator}/${e.rule}`, e.timeMs)),
  alert: (e, t) => alertPoint(e, t.next(`alerts/${e.site}/${e.severity}/${e.rule}`, e.timeMs)),
  deadletter: (e, t) => deadLetterPoint(e, t.next(`deadletters/${e.reason}`, e.timeMs)),
  deviceStatus: (e, t) => deviceStatusPoint(e, t.next(`device_status/${e.device}`, e.timeMs)),
  // Silence is a device status of the device's own series: one SeriesTime keeps them apart.
  deviceSilence: (e, t) => deviceSilencePoint(e, t.next(`device_status/${e.device}`, e.timeMs)),
  zoneArmed: (e, t) => zoneArmedPoint(e, t.next(`zone_state/${e.site}/${e.zone}`, e.timeMs)),
  actuatorState: (e, t) => actuatorStatePoint(e, t.next(`actuator_state/${e.site}/${e.zone}/${e.actuator}`, e.timeMs)),
  alarm: (e, t) => alarmPoint(e, t.next(`alarms/${e.alarmId}`, e.timeMs)),
  // One time line per actuator (not per status tag): a saga's steps keep their order in InfluxDB.
  commandStatus: (e, t) => commandStatusPoint(e, t.next(`command_status/${e.site}/${e.zone}/${e.actuator}`, e.timeMs)),
  nativeCommand: (e, t) => nativeCommandPoint(e, t.next(`native_commands/${e.site}/${e.zone}/${e.actuator}/${e.family}`, e.timeMs)),
  stats: (e, t) => statsPoint(e, t.next(`gateway_stats/${e.host}`, e.timeMs)),
};

/** The store port (core/store.ts) on the spool: events become points, appended to the journal. */
export class EventStore implements Store {
  private readonly time = new SeriesTime();

  constructor(private readonly journal: Journal) {}

  keep<K extends StorableName>(name: K, event: StorableEvents[K], always = false): boolean {
    if (!always && this.journal.isFull()) return false;
    const point = POINTS[name] as PointOf<K>;
    return this.journal.append(point(event, this.time), always);
  }

  committed(): Promise<void> {
    return this.journal.committed();
  }

  whenSpace(): Promise<void> {
    return this.journal.whenSpace();
  }

  isFull(): boolean {
    return this.journal.isFull();
  }

  get isOpen(): boolean {
    return this.journal.isOpen;
  }
}
