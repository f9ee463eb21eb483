/**
 * The dead-letter archive port: dead letters as kept (in InfluxDB), read back in time order so a
 * redrive (ingest/redrive.ts) can feed them through ingest again. Storage implements it
 * (storage/deadletter-archive.ts), so ingest knows nothing of queries.
 */
export interface KeptDeadLetter {
  readonly id: string;
  readonly topic: string;
  readonly payload: string;
  readonly reason: string;
  readonly detail: string;
  readonly clientId: string | null;
  /** When it was kept: the time its message arrived. */
  readonly timeMs: number;
}

export interface DeadLetterArchive {
  /** Up to `limit` dead letters of `reason` kept after `afterMs` (exclusive) and before `untilMs`, oldest first. */
  read(reason: string, afterMs: number, untilMs: number, limit: number): Promise<KeptDeadLetter[]>;
}

/**
 * The latest time InfluxDB stores or selects (int64 ns since 1970: 2262-04-11T23:47:16.854Z), in
 * epoch ms: a later `since`/`until` is refused where it is given, not sent for InfluxDB to refuse.
 */
export const LATEST_KEPT_MS = 9_223_372_036_854;

/** Why `ms` (named `name`) cannot select kept dead letters; undefined when it can. */
export function keptTimeProblem(ms: number, name: string): string | undefined {
  if (!Number.isFinite(ms)) return `${name} must be epoch ms or an ISO-8601 time`;
  if (ms < 0) return `${name} must be at or after 1970-01-01T00:00:00.000Z`;
  if (ms > LATEST_KEPT_MS) return `${name} must be at or before ${new Date(LATEST_KEPT_MS).toISOString()}, the latest time InfluxDB keeps (int64 nanoseconds)`;
  return undefined;
}
