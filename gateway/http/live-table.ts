import { BoundedMap } from '../core/bounded-map.js';

/**
 * One of the live page's keyed tables (armed zones, actuators' reports): every entry for the
 * snapshot, and those changed since the last push for the next update. Both bounded: keys come
 * from events (zones, actuators), so made-up ones must not grow them without end; the entry
 * changed longest ago is forgotten first (counted by the owner through `onEvict`), and the
 * changes waiting for a push are at most as many (a forgotten change was also overwritten).
 */
export class LiveTable<V> {
  private readonly all: BoundedMap<string, V>;
  private changes: BoundedMap<string, V>;

  constructor(
    private readonly capacity: number,
    onEvict: () => void,
  ) {
    this.all = new BoundedMap(capacity, onEvict);
    this.changes = new BoundedMap(capacity);
  }

  /** A change; `pushed`: someone watches, so it also goes with the next update. */
  set(key: string, value: V, pushed: boolean): void {
    this.all.touch(key, value);
    if (pushed) this.changes.touch(key, value);
  }

  /** What was known at start, unless a change came first. */
  seed(key: string, value: V): void {
    if (!this.all.has(key)) this.all.set(key, value);
  }

  get changed(): number {
    return this.changes.size;
  }

  snapshot(): Record<string, V> {
    return Object.fromEntries(this.all);
  }

  /** The changes since the last push, forgotten from here. */
  take(): Record<string, V> {
    const out = Object.fromEntries(this.changes);
    this.dropChanges();
    return out;
  }

  dropChanges(): void {
    if (this.changes.size > 0) this.changes = new BoundedMap(this.capacity);
  }
}
