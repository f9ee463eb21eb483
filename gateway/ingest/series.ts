import { BoundedMap } from '../core/bounded-map.js';
import type { Kind } from '../core/kinds.js';
import { SeriesMemory } from '../core/series-memory.js';

/**
 * What ingest remembers of one reading topic (one device's kind): the parsed topic, the time
 * of its latest reading (older ones are history), and its recent events (core/series-memory.ts:
 * ids with their content for dedupe, and the points the store placed). One Map lookup by topic
 * per reading instead of parsing the topic and looking up several maps by built keys.
 */
export class Series {
  readonly source: string;
  readonly type: `sensor.${Kind}`;
  /** The latest reading's judged time (min of its `ts` and when it arrived): older ones are history. */
  latestMs: number | undefined;
  readonly memory: SeriesMemory;

  constructor(
    readonly site: string,
    readonly zone: string,
    readonly device: string,
    readonly kind: Kind,
    /** The memory vouches for points from this millisecond on (see SeriesMemory). */
    fenceMs: number,
  ) {
    this.source = `${site}/${zone}/${device}`;
    this.type = `sensor.${kind}`;
    this.memory = new SeriesMemory(fenceMs);
  }
}

/** Series by topic, bounded: past `max` topics the oldest is forgotten (its dedupe memory and the points it placed). */
export class SeriesCache {
  private readonly byTopic: BoundedMap<string, Series>;

  constructor(
    /** When this process started: a memory vouches for nothing before it. */
    private readonly startMs: number,
    max = 200_000,
  ) {
    this.byTopic = new BoundedMap(max);
  }

  get(topic: string): Series | undefined {
    return this.byTopic.get(topic);
  }

  /** Where a new series' memory starts to vouch: the start, or now once some series was forgotten (it may have been this one). */
  fenceMs(nowMs: number): number {
    return this.byTopic.evicted > 0 ? nowMs : this.startMs;
  }

  add(topic: string, series: Series): Series {
    this.byTopic.set(topic, series);
    return series;
  }
}
