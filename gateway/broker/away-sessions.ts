/**
 * The persistent sessions whose client is away (broker/persistence.ts), oldest away first, and
 * the filters each one holds in the store: both are bounded (MQTT_MAX_AWAY_SESSIONS,
 * MQTT_MAX_AWAY_SUBSCRIPTIONS), since client ids cost nothing to make up and each filter kept
 * costs ~1 KB in Aedes' memory store (a unique 30-byte filter, measured). Past either bound the
 * session away longest is to be removed.
 */

/** Why a session away went before its expiry. */
export type EvictReason = 'away_sessions' | 'away_subscriptions';

export interface Evicted {
  readonly clientId: string;
  readonly since: number;
  readonly filters: number | undefined;
  readonly reason: EvictReason;
}

export class AwaySessions {
  /** When each client left, in the order they left (a Map keeps insertion order). */
  private readonly since = new Map<string, number>();
  /** The filters each session away holds, once the store said (it answers asynchronously). */
  private readonly filters = new Map<string, number>();
  private filterTotal = 0;

  /** 0 = no limit, for either. */
  constructor(
    private readonly maxSessions: number,
    private readonly maxFilters: number,
  ) {}

  get size(): number {
    return this.since.size;
  }

  /** Filters held by the sessions away, as far as counted. */
  get filtersHeld(): number {
    return this.filterTotal;
  }

  /** A client left (or a session put back after its store refused to end it): the newest away. */
  left(clientId: string, at: number, filters?: number): void {
    this.back(clientId);
    this.since.set(clientId, at);
    if (filters !== undefined) this.count(clientId, filters);
  }

  /** What the store holds for a client that left at `at`; ignored if it came back (or left again) since. */
  counted(clientId: string, at: number, filters: number): void {
    if (this.since.get(clientId) === at && !this.filters.has(clientId)) this.count(clientId, filters);
  }

  private count(clientId: string, filters: number): void {
    this.filters.set(clientId, filters);
    this.filterTotal += filters;
  }

  /** Back (or its session cleaned): no longer away. */
  back(clientId: string): void {
    if (!this.since.delete(clientId)) return;
    const filters = this.filters.get(clientId);
    if (filters === undefined) return;
    this.filters.delete(clientId);
    this.filterTotal -= filters;
  }

  /** Since when a client is away (undefined: it is not). */
  get(clientId: string): number | undefined {
    return this.since.get(clientId);
  }

  keys(): IterableIterator<string> {
    return this.since.keys();
  }

  /** Away, and since when (a copy: ending sessions while walking it is safe). */
  entries(): [string, number][] {
    return [...this.since];
  }

  /** Takes out the sessions away longest until both bounds hold again: the caller ends them. */
  over(): Evicted[] {
    const out: Evicted[] = [];
    for (const [clientId, since] of this.since) {
      const reason: EvictReason | undefined =
        this.maxSessions > 0 && this.since.size > this.maxSessions ? 'away_sessions' : this.maxFilters > 0 && this.filterTotal > this.maxFilters ? 'away_subscriptions' : undefined;
      if (!reason) break;
      const filters = this.filters.get(clientId);
      this.back(clientId);
      out.push({ clientId, since, filters, reason });
    }
    return out;
  }
}
