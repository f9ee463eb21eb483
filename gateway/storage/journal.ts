import type { Logger } from 'pino';
import { Backlog } from './spool/backlog.js';
import { Checkpoint } from './spool/checkpoint.js';
import { nodeDisk, type SpoolDisk } from './spool/disk.js';
import { GroupCommit } from './spool/group-commit.js';
import { Reader, type Batch, type StoredRecord } from './spool/reader.js';
import { encodeRecord, type Precision } from './spool/record.js';
import { DEFAULT_SEGMENT_BYTES, Segments } from './spool/segments.js';

export type { Position } from './spool/position.js';
export type { Batch } from './spool/reader.js';

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
  readonly maxBytes: number;
  readonly segmentBytes?: number;
  readonly memoryBytes?: number;
  /** fdatasync each group commit (power-loss safe). Without it, a commit survives a process crash only. */
  readonly fsync?: boolean;
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
  private closed = false;

  /** `disk` is for tests: every file call the spool makes goes through it. */
  constructor(options: JournalOptions, disk: SpoolDisk = nodeDisk) {
    const { dir } = options;
    const log = options.log.child({ component: 'spool' });
    this.log = log;
    this.now = options.now ?? Date.now;
    this.segments = new Segments({ dir, disk, log, segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, fsync: options.fsync ?? true });
    this.reader = new Reader({ segments: this.segments, disk, log, memoryBytes: options.memoryBytes ?? 64 * 1024 * 1024 });
    this.checkpoint = new Checkpoint({ dir, disk, log, release: (at) => this.segments.release(at, (id) => id === this.reader.openSegment) });
    this.commits = new GroupCommit({ log, write: (lines, sync) => this.write(lines, sync) });
    this.backlog = new Backlog(options.maxBytes, () => this.commits.bytes);
  }

  /**
   * Opens the spool, recovering what a previous run left unconfirmed; `recovered` sees each
   * record of it (its body, a view valid during the call, and its lines' precision).
   */
  async open(recovered?: (body: Buffer, precision: Precision) => void): Promise<void> {
    const ids = await this.segments.list();
    const checkpoint = await this.checkpoint.read(ids[0] ?? 0);
    const found = await this.segments.recover(ids, checkpoint, recovered);
    this.backlog.added(found.bytes, found.events, found.firstAppendedAt);
    if (found.events > 0) {
      this.reader.readFrom(checkpoint);
      this.log.info({ events: found.events, bytes: found.bytes }, 'spool holds events from an earlier run; draining them to InfluxDB');
    } else {
      this.checkpoint.reset({ segment: this.segments.writeSegment, offset: 0 });
    }
    await this.segments.openForWriting();
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
    return this.backlog.isFull();
  }

  /** Resolves once everything appended so far is committed to disk. */
  committed(): Promise<void> {
    return this.commits.committed();
  }

  /** Resolves when the spool has room again (immediately if it has). */
  whenSpace(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.backlog.whenSpace();
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
    await this.commits.close();
    this.closed = true;
    await this.checkpoint.close();
    await this.segments.close();
    await this.reader.close();
    this.backlog.wakeAll();
  }

  /** The group commit's write: one record for these lines, then handed to the consumer. */
  private async write(lines: readonly string[], sync: boolean): Promise<void> {
    const body = Buffer.from(lines.join(''), 'utf8');
    const appendedAt = this.now();
    const { start, end } = await this.segments.append(encodeRecord(body, lines.length, appendedAt, 'ns'), sync);
    this.stored({ body, count: lines.length, appendedAt, precision: 'ns', start, end, bytes: end.offset - start.offset });
  }

  private stored(record: StoredRecord): void {
    this.backlog.added(record.bytes, record.count, record.appendedAt);
    this.reader.stored(record);
    this.readableListener?.();
  }
}
