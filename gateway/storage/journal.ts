import type { Logger } from 'pino';
import { Checkpoint } from './spool/checkpoint.js';
import { GroupCommit } from './spool/group-commit.js';
import { nodeDisk, type SpoolDisk, type SpoolFile } from './spool/disk.js';
import { before, type Position } from './spool/position.js';
import { decodeRecord, encodeRecord, type DecodedRecord } from './spool/record.js';
import { Segments } from './spool/segments.js';

export type { Position } from './spool/position.js';

/**
 * The spool: an append-only journal of line-protocol records under DATA_DIR/spool, with group
 * commit. Every event is appended here first; the InfluxDB sink consumes it in order and
 * confirms what InfluxDB has taken, which moves the checkpoint and frees whole segments.
 *
 * - Group commit: appends in one event-loop turn (and while a write is in flight) become one
 *   record, one write and one fdatasync; `committed()` resolves when the current group is on disk.
 * - While the consumer keeps up, records are handed over from memory; past `memoryBytes` the
 *   consumer reads them back from disk (InfluxDB away or slow), and returns to memory once it
 *   has caught up.
 * - On open, everything after the checkpoint is replayed (writes are idempotent), and a torn
 *   record at the tail (a crash mid-write) is cut off.
 * Records are laid out in spool/record.ts.
 */

const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface Batch {
  readonly bodies: readonly Buffer[];
  readonly count: number;
  readonly bytes: number;
  /** Position just after the batch's last record: the checkpoint once InfluxDB has it. */
  readonly end: Position;
  readonly firstAppendedAt: number;
}

interface StoredRecord {
  readonly body: Buffer;
  readonly count: number;
  readonly appendedAt: number;
  readonly start: Position;
  readonly end: Position;
  readonly bytes: number;
}

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
  private readonly memoryBytes: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly segments: Segments;
  private readonly checkpoint: Checkpoint;
  private readonly commits: GroupCommit;

  private memory: StoredRecord[] = [];
  private memoryUsed = 0;
  /** Where the consumer must read from disk, once the memory queue is empty; undefined = memory mode. */
  private diskFrom: Position | undefined;
  private readHandle: { segment: number; handle: SpoolFile } | undefined;
  private readAhead: StoredRecord[] = [];

  private unconfirmedBytes = 0;
  private unconfirmedEvents = 0;
  private oldestAppendedAt: number | undefined;
  private spaceWaiters: (() => void)[] = [];
  private readableListener: (() => void) | undefined;
  private closed = false;

  /** `disk` is for tests: every file call the spool makes goes through it. */
  constructor(
    private readonly options: JournalOptions,
    private readonly disk: SpoolDisk = nodeDisk,
  ) {
    this.memoryBytes = options.memoryBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    const log = (this.log = options.log.child({ component: 'spool' }));
    const { dir } = options;
    this.segments = new Segments({ dir, disk, log, segmentBytes: options.segmentBytes ?? 16 * 1024 * 1024, fsync: options.fsync ?? true });
    this.checkpoint = new Checkpoint({ dir, disk, log, release: (at) => this.segments.release(at, (id) => id === this.readHandle?.segment) });
    this.commits = new GroupCommit({ log, write: (lines, sync) => this.write(lines, sync) });
  }

  /** Opens the spool, recovering what a previous run left unconfirmed. */
  async open(): Promise<void> {
    const ids = await this.segments.list();
    const checkpoint = await this.checkpoint.read(ids[0] ?? 0);
    const recovered = await this.segments.recover(ids, checkpoint);
    this.unconfirmedEvents += recovered.events;
    this.unconfirmedBytes += recovered.bytes;
    this.oldestAppendedAt ??= recovered.firstAppendedAt;
    if (this.unconfirmedEvents > 0) {
      this.diskFrom = checkpoint;
      this.log.info({ events: this.unconfirmedEvents, bytes: this.unconfirmedBytes }, 'spool holds events from an earlier run; draining them to InfluxDB');
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
    return this.unconfirmedBytes + this.commits.bytes >= this.options.maxBytes;
  }

  /** Resolves once everything appended so far is committed to disk. */
  committed(): Promise<void> {
    return this.commits.committed();
  }

  /** Resolves when the spool has room again (immediately if it has). */
  whenSpace(): Promise<void> {
    if (!this.isFull() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** The consumer's wake-up call: something new can be taken. */
  onReadable(listener: () => void): void {
    this.readableListener = listener;
  }

  stats(): JournalStats {
    return {
      bytes: this.unconfirmedBytes + this.commits.bytes,
      events: this.unconfirmedEvents + this.commits.events,
      oldestAppendedAt: this.unconfirmedEvents > 0 ? this.oldestAppendedAt : undefined,
      readingFromDisk: this.diskFrom !== undefined,
      commits: this.commits.commits,
    };
  }

  /** Takes the next records, in order, up to about `maxEvents` (never splits a record). */
  async take(maxEvents: number, maxBytes = 8 * 1024 * 1024): Promise<Batch | undefined> {
    const records: StoredRecord[] = [];
    let count = 0;
    let bytes = 0;
    const room = (r: StoredRecord): boolean => records.length === 0 || (count + r.count <= maxEvents && bytes + r.body.length <= maxBytes);
    while (count < maxEvents) {
      let next = this.readAhead[0] ?? (this.diskFrom === undefined || this.memory.length > 0 ? this.memory[0] : undefined);
      if (!next && this.diskFrom !== undefined && this.memory.length === 0) {
        try {
          await this.readFromDisk();
        } catch (err) {
          // Records already taken from memory must not be lost with the error: hand them on now.
          if (records.length > 0) break;
          throw err;
        }
        next = this.readAhead[0];
        if (!next) break;
      }
      if (!next || !room(next)) break;
      if (next === this.readAhead[0]) this.readAhead.shift();
      else {
        this.memory.shift();
        this.memoryUsed -= next.body.length;
      }
      records.push(next);
      count += next.count;
      bytes += next.bytes;
    }
    const last = records.at(-1);
    const first = records[0];
    if (!last || !first) return undefined;
    return { bodies: records.map((r) => r.body), count, bytes, end: last.end, firstAppendedAt: first.appendedAt };
  }

  /** The consumer has the batch safely in InfluxDB: move the checkpoint past it. */
  confirm(batch: Batch): void {
    if (!this.checkpoint.advance(batch.end)) return;
    this.unconfirmedBytes -= batch.bytes;
    this.unconfirmedEvents -= batch.count;
    this.oldestAppendedAt = this.readAhead[0]?.appendedAt ?? this.memory[0]?.appendedAt ?? (this.unconfirmedEvents > 0 ? this.oldestAppendedAt : undefined);
    if (!this.isFull()) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Commits what is pending, persists the checkpoint and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.commits.close();
    this.closed = true;
    await this.checkpoint.close();
    await this.segments.close();
    await this.readHandle?.handle.close();
    for (const w of this.spaceWaiters) w();
    this.spaceWaiters = [];
  }

  /** The group commit's write: one record for these lines, then handed to the reader. */
  private async write(lines: readonly string[], sync: boolean): Promise<void> {
    const body = Buffer.from(lines.join(''), 'utf8');
    const appendedAt = this.now();
    const { start, end } = await this.segments.append(encodeRecord(body, lines.length, appendedAt), sync);
    this.stored({ body, count: lines.length, appendedAt, start, end, bytes: end.offset - start.offset });
  }

  private stored(record: StoredRecord): void {
    this.unconfirmedBytes += record.bytes;
    this.unconfirmedEvents += record.count;
    this.oldestAppendedAt ??= record.appendedAt;
    if (this.diskFrom === undefined) {
      if (this.memoryUsed + record.body.length <= this.memoryBytes) {
        this.memory.push(record);
        this.memoryUsed += record.body.length;
      } else {
        this.diskFrom = record.start;
        this.log.warn({ memoryBytes: this.memoryBytes }, 'InfluxDB is behind: the sink now reads the spool from disk');
      }
    }
    this.readableListener?.();
  }

  /** Reads records from disk at `diskFrom` into `readAhead`; back to memory mode once caught up. */
  private async readFromDisk(): Promise<void> {
    let pos = this.diskFrom;
    if (!pos) return;
    while (this.readAhead.length === 0) {
      if (!before(pos, this.segments.writtenEnd)) {
        this.diskFrom = undefined;
        if (this.readHandle) await this.readHandle.handle.close();
        this.readHandle = undefined;
        this.log.info('the sink has caught up with the spool');
        return;
      }
      const size = this.segments.sizeOf(pos.segment);
      if (size === undefined || pos.offset >= size) {
        const nextId = this.segments.nextAfter(pos.segment);
        if (nextId === undefined) {
          this.diskFrom = undefined;
          return;
        }
        pos = { segment: nextId, offset: 0 };
        this.diskFrom = pos;
        continue;
      }
      const handle = await this.readerFor(pos.segment);
      const length = Math.min(READ_CHUNK_BYTES, size - pos.offset);
      const chunk = Buffer.allocUnsafe(length);
      await handle.read(chunk, 0, length, pos.offset);
      // Bytes below the segment's size were written by this run or verified by recovery.
      let at = 0;
      let record = decodeRecord(chunk, at, false);
      for (; record.ok; record = decodeRecord(chunk, at, false)) {
        this.readAhead.push(this.toStored(record, pos, at));
        at += record.bytes;
      }
      if (at === 0) {
        // One record larger than the chunk: read it whole.
        if (record.claims === undefined) throw new Error(`spool segment ${pos.segment} has a partial record at ${pos.offset}`);
        const whole = Buffer.allocUnsafe(record.claims);
        await handle.read(whole, 0, whole.length, pos.offset);
        const decoded = decodeRecord(whole, 0, false);
        if (!decoded.ok) throw new Error(`spool segment ${pos.segment} has a partial record at ${pos.offset}`);
        this.readAhead.push(this.toStored(decoded, pos, 0));
        at = decoded.bytes;
      }
      pos = { segment: pos.segment, offset: pos.offset + at };
      this.diskFrom = pos;
    }
  }

  private toStored(record: DecodedRecord, chunkAt: Position, at: number): StoredRecord {
    const start = { segment: chunkAt.segment, offset: chunkAt.offset + at };
    const end = { segment: chunkAt.segment, offset: start.offset + record.bytes };
    return { body: record.body, count: record.count, appendedAt: record.appendedAt, start, end, bytes: record.bytes };
  }

  private async readerFor(segment: number): Promise<SpoolFile> {
    if (this.readHandle?.segment === segment) return this.readHandle.handle;
    await this.readHandle?.handle.close();
    const handle = await this.disk.openForReading(this.segments.path(segment));
    this.readHandle = { segment, handle };
    return handle;
  }
}
