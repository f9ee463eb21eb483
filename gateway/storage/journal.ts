import type { Logger } from 'pino';
import { Backlog } from './spool/backlog.js';
import { Checkpoint } from './spool/checkpoint.js';
import { nodeDisk, type SpoolDisk } from './spool/disk.js';
import { GroupCommit } from './spool/group-commit.js';
import { Consumers, type JournalCursor } from './spool/consumers.js';
import { before, type Position } from './spool/position.js';
import { Reader, type Batch, type StoredRecord } from './spool/reader.js';
import { encodeRecord, type Precision } from './spool/record.js';
import { DEFAULT_SEGMENT_BYTES, Segments } from './spool/segments.js';
import { DiskSpace } from './spool/space.js';

export type { Position } from './spool/position.js';
export type { Batch } from './spool/reader.js';
export type { CursorStats, JournalCursor } from './spool/consumers.js';

/**
 * The spool: an append-only journal of line-protocol records under DATA_DIR/spool, with group
 * commit. Every event is appended here first; the InfluxDB sink consumes it in order and
 * confirms what InfluxDB has taken, which moves the checkpoint and frees whole segments.
 *
 * - Group commit (spool/group-commit.ts): appends in one event-loop turn (and while a write is
 *   in flight) become one record, one write and one fdatasync; `committed()` resolves when the
 *   current group is on disk.
 * - While the consumer keeps up, records are handed over from memory; past `memoryBytes` the
 *   consumer reads them back from disk (InfluxDB away or slow), and returns to memory once it
 *   has caught up (spool/reader.ts).
 * - On open, everything after the checkpoint (spool/checkpoint.ts) is replayed (writes are
 *   idempotent), and a torn record at the tail (a crash mid-write) is cut off (spool/segments.ts).
 *
 * Records are laid out in spool/record.ts; every file call goes through spool/disk.ts; what
 * counts as full is spool/backlog.ts. This class only wires them together.
 */

export interface JournalOptions {
  readonly dir: string;
  /**
   * Further consumers besides the sink (the cluster's forwarder, spool/consumers.ts): each reads
   * every record in order from its own checkpoint, and a segment is deleted only once every
   * consumer is past it. Only the sink's lag counts toward SPOOL_MAX_BYTES; the disk counts all.
   */
  readonly consumers?: readonly string[];
  readonly maxBytes: number;
  readonly segmentBytes?: number;
  /** Bytes of segments InfluxDB holds kept for the next start's point identity (default 16 MiB, less on a small disk; 0 = none). */
  readonly retainBytes?: number;
  readonly memoryBytes?: number;
  /** fdatasync each group commit (power-loss safe). Without it, a commit survives a process crash only. */
  readonly fsync?: boolean;
  /** Least ms from one group commit's start to the next (SPOOL_COMMIT_INTERVAL_MS; default 0: none). */
  readonly commitIntervalMs?: number;
  /**
   * Bytes the spool leaves free on the disk under it (SPOOL_MIN_FREE_BYTES): past that it is full,
   * whatever SPOOL_MAX_BYTES says. 0 (default): 5% of the disk, at most 64 MiB.
   */
  readonly minFreeBytes?: number;
  /** How often the free disk space is read. */
  readonly spaceEveryMs?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface JournalStats {
  /** Bytes appended and not yet confirmed by the consumer. */
  readonly bytes: number;
  readonly events: number;
  /** Epoch ms when the oldest unconfirmed record was appended, or undefined if none. */
  readonly oldestAppendedAt: number | undefined;
  readonly readingFromDisk: boolean;
  readonly commits: number;
}

export class Journal {
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly segments: Segments;
  private readonly checkpoint: Checkpoint;
  private readonly commits: GroupCommit;
  private readonly reader: Reader;
  private readonly backlog: Backlog;
  private readableListener: (() => void) | undefined;
  private readonly consumers: Consumers | undefined;
  private closed = false;
  private readonly maxBytes: number;
  private readonly memoryBytes: number;
  private readonly space: DiskSpace;
  private readonly spaceEvery: number;
  private spaceTimer: NodeJS.Timeout | undefined;

  /** `disk` is for tests: every file call the spool makes goes through it. */
  constructor(options: JournalOptions, disk: SpoolDisk = nodeDisk) {
    const { dir } = options;
    const log = options.log.child({ component: 'spool' });
    this.maxBytes = options.maxBytes;
    this.memoryBytes = options.memoryBytes ?? 64 * 1024 * 1024;
    this.log = log;
    this.now = options.now ?? Date.now;
    this.segments = new Segments({ dir, disk, log, segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, retainBytes: options.retainBytes, fsync: options.fsync ?? true });
    this.reader = new Reader({ segments: this.segments, disk, log, memoryBytes: this.memoryBytes });
    this.checkpoint = new Checkpoint({ dir, disk, log, release: (at) => this.release(at) });
    if (options.consumers?.length) {
      // Retained segments go first (DiskSpace.read): only then is the forwarder what holds the disk.
      const crowded = (at: Position): boolean => this.space.full && this.segments.retainedBytes === 0 && before(at, this.checkpoint.position);
      this.consumers = new Consumers({ names: options.consumers, dir, disk, log, segments: this.segments, memoryBytes: this.memoryBytes, release: () => this.release(this.checkpoint.position), crowded });
    }
    this.commits = new GroupCommit({ log, write: (lines, sync, written) => this.write(lines, sync, written), recovered: () => this.backlog.wakeAll(), intervalMs: options.commitIntervalMs });
    this.backlog = new Backlog(() => this.limit(), () => this.commits.bytes);
    this.space = new DiskSpace({ dir, disk, log, minFreeBytes: options.minFreeBytes ?? 0, segments: this.segments, pending: () => this.commits.bytes });
    this.spaceEvery = options.spaceEveryMs ?? 1000;
  }

  /** The spool's limit now: SPOOL_MAX_BYTES, or what it holds plus the room the disk has left above SPOOL_MIN_FREE_BYTES. */
  private limit(): number {
    const room = this.space.room;
    return room === undefined ? this.maxBytes : Math.min(this.maxBytes, this.backlog.bytes + room);
  }

  private get diskFull(): boolean {
    return this.space.full;
  }

  /** Reads the free space under the spool; wakes those waiting for room if there is some again. */
  private async readSpace(): Promise<void> {
    await this.space.read();
    if (!this.isFull()) this.backlog.wakeAll();
  }

  /** A further consumer named in `JournalOptions.consumers`. */
  cursor(name: string): JournalCursor {
    if (!this.consumers) throw new Error(`the journal has no consumer ${JSON.stringify(name)}`);
    return this.consumers.cursor(name);
  }

  /**
   * Deletes what InfluxDB holds (before the checkpoint is written) and every further consumer is
   * past, then reads the space it freed.
   */
  private async release(at: Position): Promise<void> {
    const upTo = this.consumers ? this.consumers.earliest(at) : at;
    await this.segments.releaseDrained(upTo);
    await this.segments.release(upTo, (id) => id === this.reader.openSegment || (this.consumers?.reading(id) ?? false));
    await this.readSpace();
  }

  /** Free bytes under the spool when last read (undefined before). */
  get diskFreeBytes(): number | undefined {
    return this.space.free;
  }

  /**
   * Why the spool cannot keep events now (undefined when it can): the disk refuses writes, or it
   * has no room left above SPOOL_MIN_FREE_BYTES.
   */
  get problem(): string | undefined {
    const failing = this.commits.failing;
    if (failing) return `cannot write: ${failing.code} since ${new Date(failing.since).toISOString()}; acknowledgements wait (GW_ERR_SPOOL_WRITE)`;
    if (this.diskFull) return `disk nearly full: ${this.space.free} bytes free under DATA_DIR, ${this.space.kept} kept free (GW_ERR_SPOOL_DISK_FULL)`;
    return undefined;
  }

  /** The disk refuses the spool's writes now (they are retried). */
  get writeFailing(): boolean {
    return this.commits.failing !== undefined;
  }

  /** Why the spool refuses an event: its own limit, or the disk. */
  fullReason(): 'spool_full' | 'disk_full' {
    return this.commits.failing || this.diskFull ? 'disk_full' : 'spool_full';
  }

  /**
   * Opens the spool, recovering what a previous run left unconfirmed; `recovered` sees each
   * record of it (its body, a view valid during the call, and its lines' precision).
   */
  async open(recovered?: (body: Buffer, precision: Precision) => void): Promise<void> {
    const ids = await this.segments.list();
    const checkpoint = await this.checkpoint.read(ids[0] ?? 0);
    // With further consumers, recovery keeps what the earliest of them has not confirmed and counts for each.
    const theirs = (await this.consumers?.read(ids[0] ?? 0)) ?? [];
    const earliest = theirs.reduce((a, b) => (before(b, a) ? b : a), checkpoint);
    const [found, ...others] = await this.segments.recover(ids, earliest, [checkpoint, ...theirs], recovered);
    this.backlog.added(found!.bytes, found!.events, found!.firstAppendedAt);
    const start = { segment: this.segments.writeSegment, offset: 0 };
    if (found!.events > 0) {
      this.reader.readFrom(checkpoint);
      this.log.info({ events: found!.events, bytes: found!.bytes }, 'spool holds events the last run had not written to InfluxDB yet; draining them');
    } else {
      this.checkpoint.reset(start);
    }
    this.consumers?.opened(others, theirs, start);
    await this.segments.openForWriting();
    await this.readSpace();
    this.spaceTimer = setInterval(() => void this.readSpace(), this.spaceEvery);
    this.spaceTimer.unref();
  }

  /** Appends one `\n`-terminated line. False when the spool is full (unless forced). */
  append(line: string, force = false): boolean {
    if (this.closed) return false;
    if (!force && this.isFull()) return false;
    this.commits.add(line);
    return true;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  isFull(): boolean {
    // While the disk refuses writes, what waits is memory: bounded, so QoS 0 is dropped (counted) past it.
    return this.backlog.isFull() || (this.commits.failing !== undefined && this.commits.bytes >= this.memoryBytes / 4);
  }

  /** Resolves once everything appended so far is committed to disk. */
  committed(): Promise<void> {
    return this.commits.committed();
  }

  /** Resolves once everything appended so far is written to the spool file (survives a kill, not a power cut). */
  written(): Promise<void> {
    return this.commits.written();
  }

  /** Resolves when the spool has room again (immediately if it has). */
  whenSpace(): Promise<void> {
    if (this.closed || !this.isFull()) return Promise.resolve();
    return this.backlog.nextWake();
  }

  /** The consumer's wake-up call: something new can be taken. */
  onReadable(listener: () => void): void {
    this.readableListener = listener;
  }

  stats(): JournalStats {
    return {
      bytes: this.backlog.bytes + this.commits.bytes,
      events: this.backlog.events + this.commits.events,
      oldestAppendedAt: this.backlog.oldestAppendedAt,
      readingFromDisk: this.reader.readingFromDisk,
      commits: this.commits.commits,
    };
  }

  /** Takes the next records, in order, up to about `maxEvents` (never splits a record). */
  take(maxEvents: number, maxBytes = 8 * 1024 * 1024): Promise<Batch | undefined> {
    return this.reader.take(maxEvents, maxBytes);
  }

  /** The consumer has the batch safely in InfluxDB: move the checkpoint past it. */
  confirm(batch: Batch): void {
    if (!this.checkpoint.advance(batch.end)) return;
    this.backlog.confirmed(batch.bytes, batch.count, this.reader.nextAppendedAt);
  }

  /** Commits what is pending, persists the checkpoint and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Closed to appends first: one that came while the last groups are written would be taken and
    // never written (its acknowledgement waiting for ever); refused, it is counted as shutting down.
    this.closed = true;
    if (this.spaceTimer) clearInterval(this.spaceTimer);
    await this.commits.close();
    // Said at stop, not only found at the next start: whoever stops the gateway knows what waits.
    const left = this.stats();
    if (left.events > 0) this.log.warn({ events: left.events, bytes: left.bytes }, `${left.events} events not yet written to InfluxDB stay in the spool; the next start writes them`);
    await this.checkpoint.close();
    await this.consumers?.close();
    await this.segments.close();
    await this.reader.close();
    this.backlog.wakeAll();
  }

  /** The group commit's write: one record for these lines, then handed to the consumer. */
  private async write(lines: readonly string[], sync: boolean, written?: () => void): Promise<void> {
    const body = Buffer.from(lines.join(''), 'utf8');
    const appendedAt = this.now();
    const { start, end } = await this.segments.append(encodeRecord(body, lines.length, appendedAt, 'ns'), sync, written);
    this.space.wrote(end.offset - start.offset);
    this.stored({ body, count: lines.length, appendedAt, precision: 'ns', start, end, bytes: end.offset - start.offset });
  }

  private stored(record: StoredRecord): void {
    this.backlog.added(record.bytes, record.count, record.appendedAt);
    this.reader.stored(record);
    this.readableListener?.();
    this.consumers?.stored(record);
  }
}
