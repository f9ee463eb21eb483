import { BoundedMap } from '../core/bounded-map.js';
import type { ReadingEvent } from '../core/events.js';
import { RECENT_EVENTS, SeriesMemory } from '../core/series-memory.js';
import type { StorableEvents, StorableName, Store } from '../core/store.js';
import type { Journal } from './journal.js';
import { pointOf, pointTime, type PointTimeOf } from './line.js';
import { actuatorStatePoint, alarmPoint, alertPoint, commandPoint, commandStatusPoint, deadLetterPoint, deviceSilencePoint, deviceStatusPoint, nativeCommandPoint, readingPoint, readingSeries, statsPoint, zoneArmedPoint } from './points.js';
import { splitLines } from './writer.js';

type PointOf<K extends StorableName> = (event: StorableEvents[K], store: EventStore) => string;

/**
 * Each event as its point, at a time that no other event of its series holds: InfluxDB keys a
 * point by measurement, tags and time, so two different events of one series at one millisecond
 * would be one point. The time is the event's own millisecond (a reading's `ts`, else when it was
 * received; when the gateway made the event) plus a sub-millisecond offset chosen by the series'
 * memory (core/series-memory.ts): 0 for the first event at that millisecond, an offset derived from
 * the event id (a reading's: id and content) for a later, different one. Events the gateway makes
 * use the same scheme.
 */
const POINTS: { readonly [K in StorableName]: PointOf<K> } = {
  reading: (e, s) => readingPoint(e, s.readingTime(e)),
  command: (e, s) => commandPoint(e, s.timeOf(e.id, e.timeMs)),
  alert: (e, s) => alertPoint(e, s.timeOf(e.id, e.timeMs)),
  deadletter: (e, s) => deadLetterPoint(e, s.timeOf(e.id, e.timeMs)),
  deviceStatus: (e, s) => deviceStatusPoint(e, s.timeOf(e.id, e.timeMs)),
  // Silence is a device status of the device's own series: one memory keeps them apart.
  deviceSilence: (e, s) => deviceSilencePoint(e, s.timeOf(e.id, e.timeMs)),
  zoneArmed: (e, s) => zoneArmedPoint(e, s.timeOf(e.id, e.timeMs)),
  actuatorState: (e, s) => actuatorStatePoint(e, s.timeOf(e.id, e.timeMs)),
  alarm: (e, s) => alarmPoint(e, s.timeOf(e.id, e.timeMs)),
  commandStatus: (e, s) => commandStatusPoint(e, s.timeOf(e.id, e.timeMs)),
  nativeCommand: (e, s) => nativeCommandPoint(e, s.timeOf(e.id, e.timeMs)),
  stats: (e, s) => statsPoint(e, s.timeOf(`stats-${e.timeMs}`, e.timeMs)),
};

/** Series remembered by the store itself (the gateway's own events, readings made outside ingest). */
const MAX_SERIES = 100_000;

export interface EventStoreOptions {
  /** When this process started: the memories vouch for no millisecond before it. */
  readonly startMs: number;
  /**
   * Other processes write the same series (cluster nodes): a dead letter's `reason`, a device's
   * status from its node and from a survivor's will. Their memories are not this one's, so two
   * nodes' first events at one millisecond would both take offset 0 and be one point: the
   * gateway's own events then take their id-derived offsets, never 0.
   */
  readonly sharedSeries?: boolean;
}

/** The store port (core/store.ts) on the spool: events become points, appended to the journal. */
export class EventStore implements Store {
  private readonly memories = new BoundedMap<string, SeriesMemory>(MAX_SERIES);
  /** Points the spool recovered (unconfirmed by the previous run), by series, until a memory takes them. */
  private readonly recovered = new BoundedMap<string, { id: string; ms: number; offset: number; value: number }[]>(MAX_SERIES);
  private readonly startMs: number;
  /** Up to when a gateway-made event may take offset 0: never when other processes write its series. */
  private readonly ownZeroUpToMs: number;

  constructor(
    private readonly journal: Journal,
    options: EventStoreOptions = { startMs: Date.now() },
  ) {
    this.startMs = options.startMs;
    this.ownZeroUpToMs = options.sharedSeries ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }

  /**
   * A record the spool recovered at open (its body, and whether its lines are at ns): the points
   * it holds are remembered, so that an event kept after the start cannot take one of them, and
   * the same event sent again (its acknowledgement lost in a crash) gets the same point.
   */
  recall(body: Buffer, ns: boolean): void {
    for (const l of splitLines(body.toString('utf8'))) {
      const p = pointOf(l, ns);
      if (!p?.id) continue;
      let list = this.recovered.get(p.series);
      if (!list) this.recovered.set(p.series, (list = []));
      list.push({ id: p.id, ms: p.ms, offset: p.offset, value: p.value });
      // The newest are what a memory holds: keep a bounded tail.
      if (list.length > 2 * RECENT_EVENTS) list.splice(0, list.length - RECENT_EVENTS);
    }
  }

  keep<K extends StorableName>(name: K, event: StorableEvents[K], always = false): boolean {
    if (!always && this.journal.isFull()) return false;
    const point = POINTS[name] as PointOf<K>;
    // Fullness is checked above, before the point is built: the journal need not check again.
    return this.journal.append(point(event, this), true);
  }

  /** A reading's point time: in ingest's memory of its series (which is also its dedupe), else in the store's. */
  readingTime(e: ReadingEvent): string {
    let memory = e.memory;
    if (!memory) {
      // A reading made outside ingest: remembered with its id here, so the same one kept twice gets its same point.
      memory = this.memoryOf(readingSeries(e));
      memory.admit(e.id, e.numeric, e.timeMs);
    } else if (!memory.recalled) this.recallInto(memory, readingSeries(e));
    // Dated ahead of the clock: never offset 0 (a point a later process may also place at 0).
    return pointTime(e.timeMs, memory.place(e.id, e.timeMs, e.receivedAtMs ?? e.timeMs));
  }

  /** The point time of a gateway-made event, once its series is known. */
  timeOf(id: string, ms: number): PointTimeOf {
    return (series) => pointTime(ms, this.memoryOf(series).place(id, ms, this.ownZeroUpToMs));
  }

  committed(): Promise<void> {
    return this.journal.committed();
  }

  written(): Promise<void> {
    return this.journal.written();
  }

  whenSpace(): Promise<void> {
    return this.journal.whenSpace();
  }

  isFull(): boolean {
    return this.journal.isFull();
  }

  fullReason(): 'spool_full' | 'disk_full' {
    return this.journal.fullReason();
  }

  get isOpen(): boolean {
    return this.journal.isOpen;
  }

  private memoryOf(series: string): SeriesMemory {
    let memory = this.memories.get(series);
    if (!memory) {
      // Once a series was forgotten, a new memory vouches only from now on.
      memory = new SeriesMemory(this.memories.evicted > 0 ? Date.now() : this.startMs);
      this.memories.set(series, memory);
      this.recallInto(memory, series);
    }
    return memory;
  }

  private recallInto(memory: SeriesMemory, series: string): void {
    memory.recalled = true;
    const points = this.recovered.get(series);
    if (!points) return;
    this.recovered.delete(series);
    // One place is left for the event being placed now (ingest admitted it before the recall).
    for (const p of points.slice(-(RECENT_EVENTS - 1))) memory.recall(p.id, p.ms, p.offset, p.value);
  }
}
