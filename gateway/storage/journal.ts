import type { Logger } from 'pino';
import { logError } from '../core/errors.js';
import { Checkpoint } from './spool/checkpoint.js';
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


export class Journal {
  private readonly memoryBytes: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly segments: Segments;
  private readonly checkpoint: Checkpoint;

  private pending: string[] = [];
  private pendingBytes = 0;
  /** Bytes of the group being written: in neither pending nor unconfirmed until the write ends. */
  private writingBytes = 0;
  private writingEvents = 0;
  private commitScheduled = false;
  private writing = false;
  /** The commit group the pending lines will join, and the one being written. */
  private group: Group | undefined;
  private inflight: Group | undefined;

  private memory: StoredRecord[] = [];
  private memoryUsed = 0;
  /** Where the consumer must read from disk, once the memory queue is empty; undefined = memory mode. */
  private diskFrom: Position | undefined;
  private readHandle: { segment: number; handle: SpoolFile } | undefined;
  private readAhead: StoredRecord[] = [];

  private unconfirmedBytes = 0;
  private unconfirmedEvents = 0;
  private oldestAppendedAt: number | undefined;
  private commits = 0;
  private spaceWaiters: (() => void)[] = [];
  private readableListener: (() => void) | undefined;
  private closed = false;
  private writeFailures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

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
    this.pending.push(line);
    this.pendingBytes += Buffer.byteLength(line, 'utf8');
    if (!this.commitScheduled && !this.writing) {
      this.commitScheduled = true;
      setImmediate(() => void this.commit());
    }
    return true;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  isFull(): boolean {
    return this.unconfirmedBytes + this.writingBytes + this.pendingBytes >= this.options.maxBytes;
  }

  /** Resolves once everything appended so far is committed to disk. */
  committed(): Promise<void> {
    if (this.pending.length > 0) return (this.group ??= newGroup()).promise;
    if (this.inflight) return this.inflight.promise;
    return Promise.resolve();
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
      bytes: this.unconfirmedBytes + this.writingBytes + this.pendingBytes,
      events: this.unconfirmedEvents + this.writingEvents + this.pending.length,
      oldestAppendedAt: this.unconfirmedEvents > 0 ? this.oldestAppendedAt : undefined,
      readingFromDisk: this.diskFrom !== undefined,
      commits: this.commits,
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
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (let attempt = 0; (this.writing || this.pending.length > 0) && attempt < 3; attempt++) await this.commit();
    if (this.pending.length > 0) {
      // The disk refuses: these were never acknowledged (their publishers resend); QoS 0 ones are lost.
      logError(this.log, 'GW_ERR_SPOOL_WRITE', { events: this.pending.length }, 'spool could not write its last events at shutdown');
      this.group?.reject(new Error('spool could not write at shutdown'));
      this.group = undefined;
    }
    this.closed = true;
    await this.checkpoint.close();
    await this.segments.close();
    await this.readHandle?.handle.close();
    for (const w of this.spaceWaiters) w();
    this.spaceWaiters = [];
  }

  private async commit(): Promise<void> {
    this.commitScheduled = false;
    if (this.writing || this.pending.length === 0) {
      if (this.writing) await this.committed().catch(() => undefined);
      return;
    }
    const lines = this.pending;
    // Only a group someone waits on (a QoS 1 acknowledgement) needs fdatasync; QoS 0 promises
    // nothing, and the next synced group flushes the file's earlier writes anyway.
    const awaited = this.group !== undefined;
    const group = this.group ?? newGroup();
    this.writingBytes = this.pendingBytes;
    this.writingEvents = lines.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.group = undefined;
    this.inflight = group;
    this.writing = true;
    const body = Buffer.from(lines.join(''), 'utf8');
    const appendedAt = this.now();
    let failed: unknown;
    try {
      const { start, end } = await this.segments.append(encodeRecord(body, lines.length, appendedAt), awaited);
      this.commits++;
      this.stored({ body, count: lines.length, appendedAt, start, end, bytes: end.offset - start.offset });
      group.resolve();
    } catch (err) {
      failed = err;
      // Nothing is handed on out of order, nor without its place on disk: the lines go back in
      // front of what arrived since and the write is tried again; their acknowledgements wait.
      this.pending = lines.concat(this.pending);
      this.pendingBytes += this.writingBytes;
      // Appends during the write may have started a newer group: it completes with the retried one.
      const newer = this.group as Group | undefined;
      if (newer) group.promise.then(newer.resolve, newer.reject);
      this.group = group;
    } finally {
      this.writing = false;
      this.writingBytes = 0;
      this.writingEvents = 0;
      this.inflight = undefined;
    }
    if (failed !== undefined) {
      this.writeFailures++;
      const delay = Math.min(5000, 50 * 2 ** Math.min(this.writeFailures, 7));
      if (this.writeFailures === 1 || this.writeFailures % 20 === 0) {
        logError(this.log, 'GW_ERR_SPOOL_WRITE', { err: failed, failures: this.writeFailures, retryInMs: delay, events: this.pending.length }, 'spool write failed; retrying, acknowledgements wait');
      }
      if (!this.closed) {
        // Appends must not trigger commits in between: the timer retries.
        this.commitScheduled = true;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.commit();
        }, delay);
      }
      return;
    }
    if (this.writeFailures > 0) {
      this.log.info({ failures: this.writeFailures }, 'spool writes again');
      this.writeFailures = 0;
    }
    if (this.pending.length > 0) await this.commit();
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
