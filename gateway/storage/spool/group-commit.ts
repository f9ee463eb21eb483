import type { Logger } from 'pino';
import { backoffDelay } from '../../core/backoff.js';
import { logError } from '../../core/errors.js';

/** A commit group's promise: what `committed()` hands out. */
interface Group {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting on a group (QoS 0 only): its failure is logged, not unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * Lines waiting for the next write, the group they will join if someone waits on them being on
 * disk (`group`), and the one for who waits on them being written only (`written`).
 */
interface Pending {
  readonly lines: string[];
  bytes: number;
  group: Group | undefined;
  written: Group | undefined;
}

const nothingPending = (): Pending => ({ lines: [], bytes: 0, group: undefined, written: undefined });

/** 100 ms doubling to 5 s, without jitter: one spool, nothing to fall in step with. */
const retryDelay = (failures: number): number => backoffDelay(failures, 50, 5000, false);

export interface GroupCommitOptions {
  readonly log: Logger;
  /**
   * Writes the lines as one record, fdatasynced if `sync`, and hands it on; throws, having
   * changed nothing, when the disk refuses. Calls `written` once the bytes are in the file
   * (before the fdatasync).
   */
  readonly write: (lines: readonly string[], sync: boolean, written?: () => void) => Promise<void>;
  /** The disk writes again after failures. */
  readonly recovered?: () => void;
  /**
   * Least time from one write's start to the next (SPOOL_COMMIT_INTERVAL_MS; 0 = none): appends
   * arriving in between join one group. At a few thousand readings a second, each from its own
   * socket read, groups are otherwise ~4 readings, and the fdatasync and thread-pool round trips
   * per group cost more than the readings (see bench/README.md). A QoS 1 acknowledgement waits at
   * most this much longer; under load writes take longer than this anyway, and nothing waits.
   */
  readonly intervalMs?: number;
}

/**
 * Group commit: appends in one event-loop turn (and while a write is in flight) become one
 * record, one write and one fdatasync; `committed()` resolves when the current group is on disk.
 * A failed write is retried in place with backoff: nothing is handed on out of order, and the
 * acknowledgements wait.
 */
export class GroupCommit {
  private pending: Pending = nothingPending();
  /** The group being written: in neither pending nor the backlog until the write ends. */
  private inflight: { readonly group: Group; readonly written: Group; readonly events: number; readonly bytes: number } | undefined;
  /** A commit is on its way (setImmediate or the timer): appends need not ask for one. */
  private scheduled = false;
  private failures = 0;
  /** A commit waiting for its interval (intervalMs) or a retry's backoff. */
  private timer: NodeJS.Timeout | undefined;
  /** Resolves when the write under way has ended, its lines handed on or put back. */
  private writeEnded: Promise<void> = Promise.resolve();
  private closing = false;
  private writes = 0;
  private failingSince: { code: string; since: number } | undefined;

  constructor(private readonly options: GroupCommitOptions) {}

  /** Bytes appended and not yet on disk (pending or being written). */
  get bytes(): number {
    return (this.inflight?.bytes ?? 0) + this.pending.bytes;
  }

  get events(): number {
    return (this.inflight?.events ?? 0) + this.pending.lines.length;
  }

  /** The disk refuses writes now: the last error's code and since when (undefined while writes go through). */
  get failing(): { readonly code: string; readonly since: number } | undefined {
    return this.failingSince;
  }

  /** Records written so far. */
  get commits(): number {
    return this.writes;
  }

  add(line: string): void {
    this.pending.lines.push(line);
    this.pending.bytes += Buffer.byteLength(line, 'utf8');
    if (!this.scheduled && !this.inflight) {
      this.scheduled = true;
      const wait = this.untilNextWrite();
      if (wait > 0) this.commitIn(wait);
      else setImmediate(() => void this.commit());
    }
  }

  /** Ms until the next write may start (≤ 0: now). Under half a millisecond is now: timers are not finer. */
  private untilNextWrite(): number {
    const wait = this.lastStart + (this.options.intervalMs ?? 0) - performance.now();
    return wait < 0.5 ? 0 : wait;
  }

  /** Resolves once everything added so far is committed to disk. */
  committed(): Promise<void> {
    if (this.pending.lines.length > 0) return (this.pending.group ??= newGroup()).promise;
    if (this.inflight) return this.inflight.group.promise;
    return Promise.resolve();
  }

  /**
   * Resolves once everything added so far is written to the file, not yet fdatasynced: it then
   * survives the process being killed, not a power cut. Waiting for it asks for no fdatasync.
   */
  written(): Promise<void> {
    if (this.pending.lines.length > 0) return (this.pending.written ??= newGroup()).promise;
    if (this.inflight) return this.inflight.written.promise;
    return Promise.resolve();
  }

  /** Commits what is pending (a few tries); what the disk still refuses is given up, and said so. */
  async close(): Promise<void> {
    // From here no timer is started (interval or retry): the tries below are the last.
    this.closing = true;
    this.clearTimer();
    for (let attempt = 0; attempt < 3; attempt++) {
      // A write under way ends first: a failed one puts its lines back in front of the rest.
      await this.writeEnded;
      if (this.pending.lines.length === 0) break;
      await this.commit();
    }
    await this.writeEnded;
    this.clearTimer();
    if (this.pending.lines.length > 0) {
      // The disk refuses: these were never acknowledged (their publishers resend); QoS 0 ones are lost.
      logError(this.options.log, 'GW_ERR_SPOOL_WRITE', { events: this.pending.lines.length }, 'spool could not write its last events at shutdown');
      this.pending.group?.reject(new Error('spool could not write at shutdown'));
      this.pending.written?.reject(new Error('spool could not write at shutdown'));
      this.pending = nothingPending();
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** When the last write started (performance.now()). */
  private lastStart = Number.NEGATIVE_INFINITY;

  private async commit(): Promise<void> {
    this.scheduled = false;
    // A write under way hands on to the next itself (or close() waits for it).
    if (this.inflight || this.pending.lines.length === 0) return;
    this.lastStart = performance.now();
    let ended!: () => void;
    this.writeEnded = new Promise((resolve) => (ended = resolve));
    const { lines, bytes } = this.pending;
    // Only a group someone waits on (a QoS 1 acknowledgement) needs fdatasync; QoS 0 promises
    // nothing, and the next synced group flushes the file's earlier writes anyway.
    const awaited = this.pending.group !== undefined;
    const group = this.pending.group ?? newGroup();
    const written = this.pending.written ?? newGroup();
    let wrote = false;
    this.pending = nothingPending();
    this.inflight = { group, written, events: lines.length, bytes };
    let failed: unknown;
    try {
      await this.options.write(lines, awaited, () => {
        wrote = true;
        written.resolve();
      });
      this.writes++;
      written.resolve();
      group.resolve();
    } catch (err) {
      failed = err;
      // Nothing is handed on out of order, nor without its place on disk: the lines go back in
      // front of what arrived since and the write is tried again; their acknowledgements wait.
      const since = this.pending;
      // Appends during the write may have started a newer group: it completes with the retried one.
      if (since.group) group.promise.then(since.group.resolve, since.group.reject);
      // Written then refused its fdatasync: the bytes were cut back and go again. Who waited on
      // their write was told already (a disk that fails fdatasync loses page-cache writes anyway);
      // who waits on what arrived since keeps its own promise, kept when the retry writes.
      if (since.written && !wrote) written.promise.then(since.written.resolve, since.written.reject);
      this.pending = { lines: lines.concat(since.lines), bytes: bytes + since.bytes, group, written: wrote ? since.written : written };
    } finally {
      this.inflight = undefined;
      ended();
    }
    if (failed !== undefined) {
      this.retry(failed);
      return;
    }
    if (this.failures > 0) {
      this.options.log.info({ failures: this.failures }, 'spool writes again');
      this.failures = 0;
      this.failingSince = undefined;
      this.options.recovered?.();
    }
    if (this.pending.lines.length === 0 || this.scheduled || this.closing) return;
    const wait = this.untilNextWrite();
    if (wait === 0) return this.commit();
    this.scheduled = true;
    this.commitIn(wait);
  }

  private commitIn(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.commit();
    }, ms);
  }

  private retry(err: unknown): void {
    this.failures++;
    this.failingSince ??= { code: (err as NodeJS.ErrnoException).code ?? 'error', since: Date.now() };
    const delay = retryDelay(this.failures);
    if (this.failures === 1 || this.failures % 20 === 0) {
      logError(this.options.log, 'GW_ERR_SPOOL_WRITE', { err, failures: this.failures, retryInMs: delay, events: this.pending.lines.length }, 'spool write failed; retrying, acknowledgements wait');
    }
    if (this.closing) return;
    // Appends must not trigger commits in between: the timer retries.
    this.scheduled = true;
    this.commitIn(delay);
  }
}
