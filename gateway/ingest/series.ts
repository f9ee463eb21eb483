import { BoundedMap } from '../core/bounded-map.js';
import type { Kind } from '../core/kinds.js';

/** How many recent ids of one series are remembered to recognise a resend. */
const RECENT_IDS = 64;

/**
 * What ingest remembers of one reading topic (one device's kind): the parsed topic, the time
 * of its latest reading (older ones are history), the last time the gateway stamped, and the
 * ids of its recent readings (a resend with the same id is a duplicate). One Map lookup by
 * topic per reading instead of parsing the topic and looking up three maps by built keys.
 */
export class Series {
  readonly source: string;
  readonly type: `sensor.${Kind}`;
  latestMs: number | undefined;
  private lastStampMs = Number.NEGATIVE_INFINITY;
  private readonly recent: (string | undefined)[] = new Array<string | undefined>(RECENT_IDS);
  private next = 0;

  constructor(
    readonly site: string,
    readonly zone: string,
    readonly device: string,
    readonly kind: Kind,
  ) {
    this.source = `${site}/${zone}/${device}`;
    this.type = `sensor.${kind}`;
  }

  /** True when `id` was seen recently; remembers it otherwise. */
  seen(id: string): boolean {
    for (let i = 0; i < RECENT_IDS; i++) if (this.recent[i] === id) return true;
    this.recent[this.next] = id;
    this.next = (this.next + 1) % RECENT_IDS;
    return false;
  }

  /**
   * A time ≥ `ms` that this series has not used yet: two ts-less readings in one millisecond
   * would otherwise be one point in InfluxDB.
   */
  stamp(ms: number): number {
    const t = ms <= this.lastStampMs ? this.lastStampMs + 1 : ms;
    this.lastStampMs = t;
    return t;
  }
}

/** Series by topic, bounded: past `max` topics the oldest is forgotten (losing only its dedupe memory). */
export class SeriesCache {
  private readonly byTopic: BoundedMap<string, Series>;

  constructor(max = 200_000) {
    this.byTopic = new BoundedMap(max);
  }

  get(topic: string): Series | undefined {
    return this.byTopic.get(topic);
  }

  add(topic: string, series: Series): Series {
    this.byTopic.set(topic, series);
    return series;
  }
}
