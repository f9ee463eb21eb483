import { mkdir, open, readdir, readFile, rename, rm, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decodeRecord, encodeRecord, HEADER_BYTES, type DecodedRecord } from './spool/record.js';

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

const SEGMENT_FILE = /^seg-(\d{12})\.log$/;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface Position {
  readonly segment: number;
  readonly offset: number;
}

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

const before = (a: Position, b: Position): boolean => a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);
const segmentName = (id: number): string => `seg-${String(id).padStart(12, '0')}.log`;

export class Journal {
  private readonly segmentBytes: number;
  private readonly memoryBytes: number;
  private readonly fsync: boolean;
  private readonly now: () => number;
  private readonly log: Logger;

  /** Valid bytes in each segment still on disk. */
  private readonly segmentSizes = new Map<number, number>();
  private writeSegment = 0;
  private writeHandle: FileHandle | undefined;
  private writtenEnd: Position = { segment: 0, offset: 0 };
  private checkpoint: Position = { segment: 0, offset: 0 };

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
  private readHandle: { segment: number; handle: FileHandle } | undefined;
  private readAhead: StoredRecord[] = [];

  private unconfirmedBytes = 0;
  private unconfirmedEvents = 0;
  private oldestAppendedAt: number | undefined;
  private commits = 0;
  private spaceWaiters: (() => void)[] = [];
  private readableListener: (() => void) | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private writeFailures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> = Promise.resolve();

  constructor(private readonly options: JournalOptions) {
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    this.memoryBytes = options.memoryBytes ?? 64 * 1024 * 1024;
    this.fsync = options.fsync ?? true;
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'spool' });
  }

  /** Opens the spool, recovering what a previous run left unconfirmed. */
  async open(): Promise<void> {
    const dir = this.options.dir;
    await mkdir(dir, { recursive: true });
    const ids = (await readdir(dir))
      .map((name) => SEGMENT_FILE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    this.checkpoint = await this.readCheckpoint(ids[0] ?? 0);
    for (const id of ids) {
      if (id < this.checkpoint.segment) {
        await rm(join(dir, segmentName(id)), { force: true });
        continue;
      }
      const from = id === this.checkpoint.segment ? this.checkpoint.offset : 0;
      const { size, events, bytes, firstAppendedAt } = await this.recoverSegment(id, from);
      this.segmentSizes.set(id, size);
      this.unconfirmedEvents += events;
      this.unconfirmedBytes += bytes;
      this.oldestAppendedAt ??= firstAppendedAt;
    }
    const last = ids.at(-1);
    this.writeSegment = (last ?? 0) + 1;
    this.writtenEnd = last === undefined ? { segment: this.writeSegment, offset: 0 } : { segment: last, offset: this.segmentSizes.get(last) ?? 0 };
    if (this.unconfirmedEvents > 0) {
      this.diskFrom = this.checkpoint;
      this.log.info({ events: this.unconfirmedEvents, bytes: this.unconfirmedBytes }, 'spool holds events from an earlier run; draining them to InfluxDB');
    } else {
      this.checkpoint = { segment: this.writeSegment, offset: 0 };
    }
    await this.openWriteSegment();
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
    if (before(batch.end, this.checkpoint)) return;
    this.checkpoint = batch.end;
    this.unconfirmedBytes -= batch.bytes;
    this.unconfirmedEvents -= batch.count;
    this.oldestAppendedAt = this.readAhead[0]?.appendedAt ?? this.memory[0]?.appendedAt ?? (this.unconfirmedEvents > 0 ? this.oldestAppendedAt : undefined);
    this.checkpointTimer ??= setTimeout(() => {
      this.checkpointTimer = undefined;
      void this.persistCheckpoint();
    }, 200);
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
      this.log.error({ code: 'GW_ERR_SPOOL_WRITE', events: this.pending.length }, 'spool could not write its last events at shutdown');
      this.group?.reject(new Error('spool could not write at shutdown'));
      this.group = undefined;
    }
    this.closed = true;
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    await this.persistCheckpoint();
    await this.writeHandle?.close();
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
    const record = encodeRecord(body, lines.length, appendedAt);
    const size = HEADER_BYTES + body.length;
    let failed: unknown;
    try {
      if ((this.segmentSizes.get(this.writeSegment) ?? 0) > 0 && (this.segmentSizes.get(this.writeSegment) ?? 0) + size > this.segmentBytes) {
        await this.rotate();
      }
      const handle = this.writeHandle;
      if (!handle) throw new Error('spool is closed');
      const offset = this.segmentSizes.get(this.writeSegment) ?? 0;
      await handle.writev(record, offset);
      if (this.fsync && awaited) await handle.datasync();
      this.commits++;
      const start = { segment: this.writeSegment, offset };
      const end = { segment: this.writeSegment, offset: offset + size };
      this.segmentSizes.set(this.writeSegment, end.offset);
      this.writtenEnd = end;
      this.stored({ body, count: lines.length, appendedAt, start, end, bytes: size });
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
        this.log.error({ code: 'GW_ERR_SPOOL_WRITE', err: failed, failures: this.writeFailures, retryInMs: delay, events: this.pending.length }, 'spool write failed; retrying, acknowledgements wait');
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
      if (!before(pos, this.writtenEnd)) {
        this.diskFrom = undefined;
        if (this.readHandle) await this.readHandle.handle.close();
        this.readHandle = undefined;
        this.log.info('the sink has caught up with the spool');
        return;
      }
      const size = this.segmentSizes.get(pos.segment);
      if (size === undefined || pos.offset >= size) {
        const nextId = [...this.segmentSizes.keys()].filter((id) => id > pos!.segment).sort((a, b) => a - b)[0];
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

  private async readerFor(segment: number): Promise<FileHandle> {
    if (this.readHandle?.segment === segment) return this.readHandle.handle;
    await this.readHandle?.handle.close();
    const handle = await open(join(this.options.dir, segmentName(segment)), 'r');
    this.readHandle = { segment, handle };
    return handle;
  }

  /** Creates segment `id` and makes its name durable; changes no state (a failed open leaves all as it was). */
  private async createSegment(id: number): Promise<FileHandle> {
    const handle = await open(join(this.options.dir, segmentName(id)), 'w');
    try {
      const dir = await open(this.options.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  private async openWriteSegment(): Promise<void> {
    this.writeHandle = await this.createSegment(this.writeSegment);
    this.segmentSizes.set(this.writeSegment, 0);
  }

  private async rotate(): Promise<void> {
    const old = this.writeHandle;
    // Groups nobody waited on were written without fdatasync: sync them before leaving the file.
    if (this.fsync) await old?.datasync();
    const next = this.writeSegment + 1;
    this.writeHandle = await this.createSegment(next);
    this.writeSegment = next;
    this.segmentSizes.set(next, 0);
    await old?.close();
  }

  private async recoverSegment(id: number, from: number): Promise<{ size: number; events: number; bytes: number; firstAppendedAt: number | undefined }> {
    const path = join(this.options.dir, segmentName(id));
    const data = await readFile(path);
    let at = from;
    let events = 0;
    let firstAppendedAt: number | undefined;
    // A torn, zero-filled or damaged record ends what is kept: decodeRecord says which.
    for (let record = decodeRecord(data, at); record.ok; record = decodeRecord(data, at)) {
      events += record.count;
      firstAppendedAt ??= record.appendedAt;
      at += record.bytes;
    }
    if (at < data.length) {
      const aside = `${path}.damaged-${at}`;
      await writeFile(aside, data.subarray(at));
      await truncate(path, at);
      this.log.warn(
        { code: 'GW_ERR_SPOOL_CORRUPT', segment: id, offset: at, bytes: data.length - at, setAside: aside },
        'spool segment ends in a torn or damaged record (a crash mid-write); the tail was set aside',
      );
    }
    return { size: at, events, bytes: at - from, firstAppendedAt };
  }

  private async readCheckpoint(fallbackSegment: number): Promise<Position> {
    try {
      const doc = JSON.parse(await readFile(join(this.options.dir, 'checkpoint.json'), 'utf8')) as Partial<Position>;
      if (Number.isInteger(doc.segment) && Number.isInteger(doc.offset)) return { segment: doc.segment!, offset: doc.offset! };
    } catch {
      // No checkpoint yet: replay everything there is.
    }
    return { segment: fallbackSegment, offset: 0 };
  }

  /** One checkpoint write at a time (two would share the temp file). */
  private persistCheckpoint(): Promise<void> {
    this.checkpointing = this.checkpointing.then(() => this.writeCheckpoint());
    return this.checkpointing;
  }

  private async writeCheckpoint(): Promise<void> {
    const path = join(this.options.dir, 'checkpoint.json');
    const checkpoint = this.checkpoint;
    try {
      await writeFile(`${path}.tmp`, JSON.stringify(checkpoint));
      await rename(`${path}.tmp`, path);
      for (const id of [...this.segmentSizes.keys()]) {
        if (id < checkpoint.segment && id !== this.writeSegment && id !== this.readHandle?.segment) {
          this.segmentSizes.delete(id);
          await rm(join(this.options.dir, segmentName(id)), { force: true });
        }
      }
    } catch (err) {
      this.log.error({ err }, 'could not persist the spool checkpoint; events may be written twice after a restart (harmless)');
    }
  }
}
