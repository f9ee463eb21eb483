/**
 * A Map that holds at most `capacity` entries: adding one more forgets the oldest (a Map keeps
 * insertion order, so that costs one lookup). `touch` makes an entry the newest, for caches
 * that should forget what is least recently used. Every per-client, per-topic or per-key memory
 * the gateway keeps goes through this, so none grows without a bound.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  /** Entries forgotten to stay within capacity. */
  evicted = 0;

  constructor(readonly capacity: number) {
    super();
    if (!(capacity > 0)) throw new RangeError(`capacity must be positive, got ${capacity}`);
  }

  override set(key: K, value: V): this {
    if (this.size >= this.capacity && !this.has(key)) {
      const oldest = this.keys().next();
      if (!oldest.done) {
        this.delete(oldest.value);
        this.evicted++;
      }
    }
    return super.set(key, value);
  }

  /** Sets and makes the entry the newest. */
  touch(key: K, value: V): this {
    this.delete(key);
    return this.set(key, value);
  }
}
