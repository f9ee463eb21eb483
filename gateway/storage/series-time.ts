import { BoundedMap } from '../core/bounded-map.js';

/**
 * InfluxDB keys a point by measurement, tags and time (ms here): two different events of one
 * series in the same millisecond would overwrite each other. Events whose time the gateway
 * chooses (receivedAt, command time) get the next free millisecond of their series instead.
 */
export class SeriesTime {
  private readonly last: BoundedMap<string, number>;

  constructor(maxSeries = 100_000) {
    this.last = new BoundedMap(maxSeries);
  }

  /** A time ≥ `ms` that no earlier call for `series` returned. */
  next(series: string, ms: number): number {
    const previous = this.last.get(series);
    const t = previous !== undefined && ms <= previous ? previous + 1 : ms;
    this.last.set(series, t);
    return t;
  }
}
