/**
 * A Map that holds at most `capacity` entries, some of which must not be forgotten while they
 * last (`kept`: a command waiting for its confirmation, an actuator within its minimum on/off
 * time). A new key when full forgets the oldest entry not kept (in insertion order: `touch` makes
 * an entry the newest, so what changed longest ago goes first); when none of the oldest is free
 * the new key is refused: not set, and `onRefuse` told. What a BoundedMap does when every entry
 * may go (core/bounded-map.ts).
 */
export class GuardedMap<K, V> extends Map<K, V> {
  /** Entries forgotten to stay within capacity. */
  evicted = 0;
  /** Keys refused because every entry looked at was kept. */
  refused = 0;

  constructor(
    readonly capacity: number,
    private readonly o: {
      /** Whether an entry must stay (asked only when the map is full). */
      readonly kept: (key: K, value: V) => boolean;
      readonly onEvict?: (key: K, value: V) => void;
      readonly onRefuse?: (key: K) => void;
    },
  ) {
    super();
    if (!(capacity > 0)) throw new RangeError(`capacity must be positive, got ${capacity}`);
  }

  /** Sets, unless the key is new, the map full and nothing in it may go (then `onRefuse`). */
  override set(key: K, value: V): this {
    if (this.admits(key)) super.set(key, value);
    return this;
  }

  /** Sets and makes the entry the newest (least recently changed first out). */
  touch(key: K, value: V): this {
    if (!this.admits(key)) return this;
    this.delete(key);
    return super.set(key, value);
  }

  /**
   * Whether `key` may be set now: it is known, there is room, or room was made by forgetting the
   * oldest entry not kept (counted, `onEvict`). Else it is refused (counted, `onRefuse`). A kept
   * entry looked at on the way is made the newest, so the next look starts past it: at most
   * SCAN entries are looked at per newcomer, and over several newcomers every entry is.
   */
  admits(key: K): boolean {
    if (this.size < this.capacity || this.has(key)) return true;
    const looks = Math.min(this.size, SCAN);
    const iterator = this.keys();
    for (let i = 0; i < looks; i++) {
      const next = iterator.next();
      if (next.done) break;
      const oldest = next.value;
      const value = this.get(oldest) as V;
      this.delete(oldest);
      if (this.o.kept(oldest, value)) {
        super.set(oldest, value);
        continue;
      }
      this.evicted++;
      this.o.onEvict?.(oldest, value);
      return true;
    }
    this.refused++;
    this.o.onRefuse?.(key);
    return false;
  }
}

/** Entries looked at per newcomer when full: a flood against a full table of kept entries costs this per refusal, not the whole table. */
const SCAN = 256;
