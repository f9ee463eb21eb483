/**
 * A bounded "seen recently" set: two generations of Maps; when the young one fills, the old
 * one is dropped. Memory stays under 2 × capacity entries with no per-entry bookkeeping.
 */
export class RecentSet<V = true> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();

  constructor(private readonly capacity = 100_000) {}

  get(key: string): V | undefined {
    return this.young.get(key) ?? this.old.get(key);
  }

  has(key: string): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.capacity) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}
