/**
 * A Map that holds at most `capacity` entries: adding one more forgets the oldest (a Map keeps
 * insertion order, so that costs one lookup). `touch` makes an entry the newest, for caches
 * that should forget what is least recently used. Every per-client, per-topic or per-key memory
 * the gateway keeps goes through this, so none grows without a bound.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  /** Entries forgotten to stay within capacity. */
  evicted = 0;
  /**
   * Where the oldest entry is: one iterator kept across evictions. A fresh `keys()` each time
   * would walk over every entry deleted since the table was last rebuilt (V8 leaves them in
   * place), up to the capacity: ~4 µs a set at 5,000 entries, ~23 µs at 50,000.
   */
  private oldest: Iterator<K> | undefined;

  /** `onEvict`: told of each entry forgotten to stay within capacity, with its value, once it is gone (counted and said by its owner). */
  constructor(
    readonly capacity: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    super();
    if (!(capacity > 0)) throw new RangeError(`capacity must be positive, got ${capacity}`);
  }

  override set(key: K, value: V): this {
    if (this.size >= this.capacity && !this.has(key)) {
      // Every live entry is after the cursor: what it passed was evicted, and a key set again or
      // touched goes to the end. A finished iterator stays finished, so it is made again.
      let next = (this.oldest ??= this.keys()).next();
      if (next.done) next = (this.oldest = this.keys()).next();
      if (!next.done) {
        const value = this.onEvict ? this.get(next.value) : undefined;
        this.delete(next.value);
        this.evicted++;
        this.onEvict?.(next.value, value as V);
      }
    }
    return super.set(key, value);
  }

  override clear(): void {
    super.clear();
    this.oldest = undefined;
  }

  /** Sets and makes the entry the newest. */
  touch(key: K, value: V): this {
    this.delete(key);
    return this.set(key, value);
  }
}
