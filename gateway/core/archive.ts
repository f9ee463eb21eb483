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
