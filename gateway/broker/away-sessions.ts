/**
 * The persistent sessions whose client is away (broker/persistence.ts), oldest away first, and
 * the filters each one holds in the store: both are bounded (MQTT_MAX_AWAY_SESSIONS,
 * MQTT_MAX_AWAY_SUBSCRIPTIONS), since client ids cost nothing to make up and each filter kept
 * costs ~1 KB in Aedes' memory store (a unique 30-byte filter, measured). Past either bound the
 * session away longest is to be removed. A credential that picks its own client ids (a native
 * device) could fill the first bound alone and so evict everyone else's: the sessions away of
 * one credential are bounded too (MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL), its own oldest going first.
 */

/** Why a session away went before its expiry. */
export type EvictReason = 'away_sessions' | 'away_subscriptions' | 'credential_away_sessions';

export interface Evicted {
  readonly clientId: string;
  readonly since: number;
  readonly filters: number | undefined;
  readonly reason: EvictReason;
  readonly owner: string | undefined;
}

export class AwaySessions {
  /** When each client left, in the order they left (a Map keeps insertion order). */
  private readonly since = new Map<string, number>();
  /** The filters each session away holds, once the store said (it answers asynchronously). */
  private readonly filters = new Map<string, number>();
  private filterTotal = 0;
  /** The credential of each session away that is held to `maxPerOwner`, and each one's, oldest away first. */
  private readonly owners = new Map<string, string>();
  private readonly byOwner = new Map<string, Set<string>>();
  /** Owners over `maxPerOwner` since the last `over()`. */
  private readonly crowded = new Set<string>();

  /** 0 = no limit, for each. */
  constructor(
    private readonly maxSessions: number,
    private readonly maxFilters: number,
    private readonly maxPerOwner = 0,
  ) {}

  get size(): number {
    return this.since.size;
  }

  /** Filters held by the sessions away, as far as counted. */
  get filtersHeld(): number {
    return this.filterTotal;
  }

  /** A client left (or a session put back after its store refused to end it): the newest away. `owner`: its credential, when held to `maxPerOwner`. */
  left(clientId: string, at: number, filters?: number, owner?: string): void {
    this.back(clientId);
    this.since.set(clientId, at);
    if (filters !== undefined) this.count(clientId, filters);
    if (owner === undefined) return;
    this.owners.set(clientId, owner);
    let ids = this.byOwner.get(owner);
    if (!ids) this.byOwner.set(owner, (ids = new Set()));
    ids.add(clientId);
    if (this.maxPerOwner > 0 && ids.size > this.maxPerOwner) this.crowded.add(owner);
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
    const owner = this.owners.get(clientId);
    if (owner !== undefined) {
      this.owners.delete(clientId);
      const ids = this.byOwner.get(owner);
      ids?.delete(clientId);
      if (ids?.size === 0) this.byOwner.delete(owner);
    }
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

  /** Takes out the sessions away longest until the bounds hold again (a crowded credential's own first): the caller ends them. */
  over(): Evicted[] {
    const out: Evicted[] = [];
    for (const owner of this.crowded) {
      const ids = this.byOwner.get(owner);
      while (ids && ids.size > this.maxPerOwner) out.push(this.take(ids.values().next().value as string, 'credential_away_sessions'));
    }
    this.crowded.clear();
    for (const [clientId] of this.since) {
      const reason: EvictReason | undefined =
        this.maxSessions > 0 && this.since.size > this.maxSessions ? 'away_sessions' : this.maxFilters > 0 && this.filterTotal > this.maxFilters ? 'away_subscriptions' : undefined;
      if (!reason) break;
      out.push(this.take(clientId, reason));
    }
    return out;
  }

  private take(clientId: string, reason: EvictReason): Evicted {
    const evicted = { clientId, since: this.since.get(clientId) ?? 0, filters: this.filters.get(clientId), reason, owner: this.owners.get(clientId) };
    this.back(clientId);
    return evicted;
  }
}
