import { join } from 'node:path';
import type { Logger } from 'pino';
import { logError } from '../../core/errors.js';
import type { SpoolDisk, SpoolFile } from './disk.js';
import { before, type Position } from './position.js';
import type { Precision } from './record.js';
import { Retention } from './retention.js';
import { verifySegment } from './verify.js';

/** Sees each record recovery keeps (its body: a view, valid during the call). */
export type RecordVisitor = (body: Buffer, precision: Precision) => void;

const SEGMENT_FILE = /^seg-(\d{12})\.log$/;
/** A segment's size unless JournalOptions.segmentBytes says otherwise (and the disk is large enough: see `fitTo`). */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
/** The smallest segment: on a small disk, segments are a sixteenth of it, but no smaller than this. */
const MIN_SEGMENT_BYTES = 64 * 1024;
/** A write segment InfluxDB holds whole is left for a new one (and deleted) once it is this large. */
export const RELEASE_DRAINED_BYTES = 64 * 1024;
export const segmentName = (id: number): string => `seg-${String(id).padStart(12, '0')}.log`;

export interface SegmentsOptions {
  readonly dir: string;
  readonly disk: SpoolDisk;
  readonly log: Logger;
  /** A segment is left for a new one once the next record would take it past this. */
  readonly segmentBytes: number;
  /** See retention.ts (default DEFAULT_RETAIN_BYTES). */
  readonly retainBytes?: number | undefined;
  /** fdatasync when asked to, and before leaving a segment. */
  readonly fsync: boolean;
}

/** What recovery found after the checkpoint: it is still to be handed to the consumer. */
export interface Recovered {
  readonly events: number;
  readonly bytes: number;
  readonly firstAppendedAt: number | undefined;
}

/**
 * The spool's files: `seg-<id>.log`, appended to in order, one written at a time. Knows which
 * exist and how many of their bytes are valid records; when to start a new one and when an old
 * one may go are decided here (`needsNewSegment`, `release`) and nowhere else.
 */
export class Segments {
  /** Valid bytes in each segment still on disk. */
  private readonly sizes = new Map<number, number>();
  private writeId = 0;
  private writeFile: SpoolFile | undefined;
  /** Segment size in force: the setting, or less on a small disk. */
  private segmentBytes: number;
  /** One file operation that changes the write segment at a time (an append, a rotation). */
  private turn: Promise<unknown> = Promise.resolve();
  /** Just after the last record written: what a reader may read up to. */
  private end: Position = { segment: 0, offset: 0 };

  /** Segments InfluxDB holds, kept a little longer for the next start (see retention.ts). */
  private readonly retention: Retention;

  constructor(private readonly options: SegmentsOptions) {
    this.segmentBytes = options.segmentBytes;
    this.retention = new Retention(options.disk, (id) => this.path(id), options.retainBytes);
  }

  /** Segments of a sixteenth of the disk at most, so that what InfluxDB holds is freed on a small disk too. */
  fitTo(diskBytes: number): void {
    this.segmentBytes = Math.min(this.options.segmentBytes, Math.max(MIN_SEGMENT_BYTES, Math.floor(diskBytes / 16)));
    this.retention.fitTo(diskBytes);
  }

  /** The disk is short: give up the segments kept for the next start. */
  dropRetained(): Promise<void> {
    return this.retention.drop();
  }

  /** Bytes of segments kept after InfluxDB took them. */
  get retainedBytes(): number {
    return this.retention.bytes;
  }

  get writeSegment(): number {
    return this.writeId;
  }

  get writtenEnd(): Position {
    return this.end;
  }

  /** Valid bytes of segment `id`, or undefined once it is gone. */
  sizeOf(id: number): number | undefined {
    return this.sizes.get(id);
  }

  /** The first segment after `id` still on disk. */
  nextAfter(id: number): number | undefined {
    return [...this.sizes.keys()].filter((other) => other > id).sort((a, b) => a - b)[0];
  }

  path(id: number): string {
    return join(this.options.dir, segmentName(id));
  }

  /** The segments a previous run left, oldest first. */
  async list(): Promise<number[]> {
    const { disk, dir } = this.options;
    await disk.mkdir(dir);
    return (await disk.list(dir))
      .map((name) => SEGMENT_FILE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /**
   * Reads back the newest segments behind the checkpoint (what InfluxDB holds and every consumer
   * is past: only `visit` sees them, for the point identity of the next events) and deletes older
   * ones; verifies the rest, setting a torn or damaged tail aside; the next segment to write is the
   * one after the last. With several consumers, `checkpoint` is the earliest of theirs and
   * `countFrom` lists each one's: what lies after each is counted for it (in that order).
   */
  async recover(ids: readonly number[], checkpoint: Position, countFrom: readonly Position[] = [checkpoint], visit?: RecordVisitor): Promise<Recovered[]> {
    const counts = countFrom.map(() => ({ events: 0, bytes: 0, firstAppendedAt: undefined as number | undefined }));
    await this.retention.recover(
      ids.filter((id) => id < checkpoint.segment),
      visit,
    );
    for (const id of ids) {
      if (id < checkpoint.segment) continue;
      const from = id === checkpoint.segment ? checkpoint.offset : 0;
      const size = await verifySegment({ ...this.options, path: this.path(id), id }, from, visit, (at, record) => {
        visit?.(record.body, record.precision);
        countFrom.forEach((position, i) => {
          if (before({ segment: id, offset: at }, position)) return;
          const c = counts[i]!;
          c.events += record.count;
          c.bytes += record.bytes;
          c.firstAppendedAt ??= record.appendedAt;
        });
      });
      this.sizes.set(id, size);
    }
    const last = ids.at(-1);
    this.writeId = (last ?? 0) + 1;
    this.end = last === undefined ? { segment: this.writeId, offset: 0 } : { segment: last, offset: this.sizes.get(last) ?? 0 };
    return counts;
  }

  /**
   * Creates the segment to write (a new one each run: a previous run's files are only read). On
   * a disk that refuses (full), the spool opens without it: the first append creates it, and
   * retries until the disk takes it.
   */
  async openForWriting(): Promise<void> {
    this.sizes.set(this.writeId, 0);
    try {
      this.writeFile = await this.create(this.writeId);
    } catch (err) {
      logError(this.options.log, 'GW_ERR_SPOOL_WRITE', { err, segment: this.writeId }, 'spool cannot create its write segment (disk full?); it starts without, and writes once the disk takes it');
    }
  }

  /**
   * Writes one record (its buffers, in one vectored write) at the end of the write segment, in
   * a new segment if it would not fit, and fdatasyncs it if `sync`; `written` is called once the
   * bytes are in the file, before the fdatasync. If anything fails nothing changes: the next try
   * writes at the same place.
   */
  append(record: readonly Buffer[], sync: boolean, written?: () => void): Promise<{ start: Position; end: Position }> {
    return this.inTurn(() => this.appendNow(record, sync, written));
  }

  private async appendNow(record: readonly Buffer[], sync: boolean, written?: () => void): Promise<{ start: Position; end: Position }> {
    const bytes = record.reduce((sum, b) => sum + b.length, 0);
    if (this.closed) throw new Error('spool is closed');
    if (this.needsNewSegment(bytes)) await this.rotate();
    this.writeFile ??= await this.create(this.writeId);
    const file = this.writeFile;
    const offset = this.sizes.get(this.writeId) ?? 0;
    try {
      // A disk that fills mid-record writes part of it and says so: write the rest, or fail whole.
      let took = (await file.writev(record, offset)).bytesWritten;
      while (took < bytes) {
        const rest = Buffer.concat(record).subarray(took);
        const more = (await file.writev([rest], offset + took)).bytesWritten;
        if (more <= 0) throw Object.assign(new Error(`ENOSPC: the disk took ${took} of ${bytes} bytes`), { code: 'ENOSPC' });
        took += more;
      }
      written?.();
      if (this.options.fsync && sync) await file.datasync();
    } catch (err) {
      // Nothing of a failed record may stay: cut the file back to where it started (frees its pages too).
      await file.truncate(offset).catch(() => undefined);
      throw err;
    }
    const start = { segment: this.writeId, offset };
    const end = { segment: this.writeId, offset: offset + bytes };
    this.sizes.set(this.writeId, end.offset);
    this.end = end;
    return { start, end };
  }

  /** When to leave the write segment for a new one. */
  private needsNewSegment(recordBytes: number): boolean {
    const size = this.sizes.get(this.writeId) ?? 0;
    return size > 0 && size + recordBytes > this.segmentBytes;
  }

  /**
   * The write segment is wholly behind the checkpoint (InfluxDB holds all of it) and large
   * enough: leave it for a new one, so it can be deleted now rather than when it would fill.
   */
  releaseDrained(checkpoint: Position): Promise<void> {
    return this.inTurn(async () => {
      const size = this.sizes.get(this.writeId) ?? 0;
      if (this.closed || !this.writeFile || size < RELEASE_DRAINED_BYTES || checkpoint.segment !== this.writeId || checkpoint.offset < size) return;
      await this.rotate();
    });
  }

  private inTurn<T>(job: () => Promise<T>): Promise<T> {
    const run = this.turn.then(job, job);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * The segments wholly behind the checkpoint are InfluxDB's now: delete them, except the one
   * being written and one a reader still has open (`inUse`).
   */
  async release(checkpoint: Position, inUse: (id: number) => boolean): Promise<void> {
    for (const id of [...this.sizes.keys()]) {
      const behind = id < checkpoint.segment || (id === checkpoint.segment && checkpoint.offset >= (this.sizes.get(id) ?? 0));
      if (behind && id !== this.writeId && !inUse(id)) {
        const size = this.sizes.get(id) ?? 0;
        this.sizes.delete(id);
        await this.retention.keep(id, size);
      }
    }
  }

  private closed = false;

  async close(): Promise<void> {
    await this.inTurn(async () => {
      this.closed = true;
      await this.writeFile?.close();
    });
  }

  /** Creates segment `id` and makes its name durable; changes no state (a failed create leaves all as it was). */
  private async create(id: number): Promise<SpoolFile> {
    const file = await this.options.disk.create(this.path(id));
    try {
      await this.options.disk.syncDir(this.options.dir);
    } catch (err) {
      await file.close();
      throw err;
    }
    return file;
  }

  private async rotate(): Promise<void> {
    const old = this.writeFile;
    // Groups nobody waited on were written without fdatasync: sync them before leaving the file.
    if (this.options.fsync) await old?.datasync();
    const next = this.writeId + 1;
    this.writeFile = await this.create(next);
    this.writeId = next;
    this.sizes.set(next, 0);
    await old?.close();
  }
}
