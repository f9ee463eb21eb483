import { join } from 'node:path';
import type { Logger } from 'pino';
import { logWarn } from '../../core/errors.js';
import type { SpoolDisk, SpoolFile } from './disk.js';
import type { Position } from './position.js';
import { decodeRecord, type Precision } from './record.js';

/** Sees each record recovery keeps (its body: a view, valid during the call). */
export type RecordVisitor = (body: Buffer, precision: Precision) => void;

const SEGMENT_FILE = /^seg-(\d{12})\.log$/;
/** A segment's size unless JournalOptions.segmentBytes says otherwise. */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
export const segmentName = (id: number): string => `seg-${String(id).padStart(12, '0')}.log`;

export interface SegmentsOptions {
  readonly dir: string;
  readonly disk: SpoolDisk;
  readonly log: Logger;
  /** A segment is left for a new one once the next record would take it past this. */
  readonly segmentBytes: number;
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
  /** Just after the last record written: what a reader may read up to. */
  private end: Position = { segment: 0, offset: 0 };

  constructor(private readonly options: SegmentsOptions) {}

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
   * Deletes the segments behind the checkpoint and verifies the rest, setting a torn or damaged
   * tail aside; the next segment to write is the one after the last.
   */
  async recover(ids: readonly number[], checkpoint: Position, visit?: RecordVisitor): Promise<Recovered> {
    let events = 0;
    let bytes = 0;
    let firstAppendedAt: number | undefined;
    for (const id of ids) {
      if (id < checkpoint.segment) {
        await this.options.disk.remove(this.path(id));
        continue;
      }
      const from = id === checkpoint.segment ? checkpoint.offset : 0;
      const found = await this.recoverSegment(id, from, visit);
      this.sizes.set(id, found.size);
      events += found.events;
      bytes += found.size - from;
      firstAppendedAt ??= found.firstAppendedAt;
    }
    const last = ids.at(-1);
    this.writeId = (last ?? 0) + 1;
    this.end = last === undefined ? { segment: this.writeId, offset: 0 } : { segment: last, offset: this.sizes.get(last) ?? 0 };
    return { events, bytes, firstAppendedAt };
  }

  /** Creates the segment to write (a new one each run: a previous run's files are only read). */
  async openForWriting(): Promise<void> {
    this.writeFile = await this.create(this.writeId);
    this.sizes.set(this.writeId, 0);
  }

  /**
   * Writes one record (its buffers, in one vectored write) at the end of the write segment, in
   * a new segment if it would not fit, and fdatasyncs it if `sync`. If anything fails nothing
   * changes: the next try writes at the same place.
   */
  async append(record: readonly Buffer[], sync: boolean): Promise<{ start: Position; end: Position }> {
    const bytes = record.reduce((sum, b) => sum + b.length, 0);
    if (this.needsNewSegment(bytes)) await this.rotate();
    const file = this.writeFile;
    if (!file) throw new Error('spool is closed');
    const offset = this.sizes.get(this.writeId) ?? 0;
    await file.writev(record, offset);
    if (this.options.fsync && sync) await file.datasync();
    const start = { segment: this.writeId, offset };
    const end = { segment: this.writeId, offset: offset + bytes };
    this.sizes.set(this.writeId, end.offset);
    this.end = end;
    return { start, end };
  }

  /** When to leave the write segment for a new one. */
  private needsNewSegment(recordBytes: number): boolean {
    const size = this.sizes.get(this.writeId) ?? 0;
    return size > 0 && size + recordBytes > this.options.segmentBytes;
  }

  /**
   * The segments wholly behind the checkpoint are InfluxDB's now: delete them, except the one
   * being written and one a reader still has open (`inUse`).
   */
  async release(checkpoint: Position, inUse: (id: number) => boolean): Promise<void> {
    for (const id of [...this.sizes.keys()]) {
      if (id < checkpoint.segment && id !== this.writeId && !inUse(id)) {
        this.sizes.delete(id);
        await this.options.disk.remove(this.path(id));
      }
    }
  }

  async close(): Promise<void> {
    await this.writeFile?.close();
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

  private async recoverSegment(id: number, from: number, visit: RecordVisitor | undefined): Promise<{ size: number; events: number; firstAppendedAt: number | undefined }> {
    const { disk, log } = this.options;
    const path = this.path(id);
    const data = await disk.readFile(path);
    let at = from;
    let events = 0;
    let firstAppendedAt: number | undefined;
    // A torn, zero-filled or damaged record ends what is kept: decodeRecord says which.
    for (let record = decodeRecord(data, at); record.ok; record = decodeRecord(data, at)) {
      events += record.count;
      firstAppendedAt ??= record.appendedAt;
      visit?.(record.body, record.precision);
      at += record.bytes;
    }
    if (at < data.length) {
      const aside = `${path}.damaged-${at}`;
      await disk.writeFile(aside, data.subarray(at));
      await disk.truncate(path, at);
      logWarn(
        log,
        'GW_ERR_SPOOL_CORRUPT',
        { segment: id, offset: at, bytes: data.length - at, setAside: aside },
        'spool segment ends in a torn or damaged record (a crash mid-write); the tail was set aside',
      );
    }
    return { size: at, events, firstAppendedAt };
  }
}
