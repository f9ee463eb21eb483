import type { Logger } from 'pino';
import type { SpoolDisk, SpoolFile } from './disk.js';
import { before, type Position } from './position.js';
import { decodeRecord, type DecodedRecord, type Precision } from './record.js';
import type { Segments } from './segments.js';

const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface Batch {
  readonly bodies: readonly Buffer[];
  readonly count: number;
  readonly bytes: number;
  /** Position just after the batch's last record: the checkpoint once InfluxDB has it. */
  readonly end: Position;
  readonly firstAppendedAt: number;
  /** The precision of every point time in the batch (a batch never mixes the two). */
  readonly precision: Precision;
}

/** A record on disk, as the reader hands it on. */
export interface StoredRecord {
  readonly body: Buffer;
  readonly count: number;
  readonly appendedAt: number;
  readonly precision: Precision;
  readonly start: Position;
  readonly end: Position;
  readonly bytes: number;
}

export interface ReaderOptions {
  readonly segments: Segments;
  readonly disk: SpoolDisk;
  readonly log: Logger;
  /** Records kept in memory for the consumer, at most; past it the consumer reads from disk. */
  readonly memoryBytes: number;
}

/**
 * The consumer's side of the spool. While the consumer keeps up, records are handed over from
 * memory; past `memoryBytes` the consumer reads them back from disk (InfluxDB away or slow), and
 * returns to memory once it has caught up.
 */
export class Reader {
  private memory: StoredRecord[] = [];
  private memoryUsed = 0;
  /** Where the consumer must read from disk, once the memory queue is empty; undefined = memory mode. */
  private diskFrom: Position | undefined;
  private file: { segment: number; handle: SpoolFile } | undefined;
  private readAhead: StoredRecord[] = [];

  constructor(private readonly options: ReaderOptions) {}

  get readingFromDisk(): boolean {
    return this.diskFrom !== undefined;
  }

  /** The segment the reader has open: not to be deleted under it. */
  get openSegment(): number | undefined {
    return this.file?.segment;
  }

  /** When the oldest record not yet taken was appended, if the reader has one at hand. */
  get nextAppendedAt(): number | undefined {
    return this.readAhead[0]?.appendedAt ?? this.memory[0]?.appendedAt;
  }

  /** What a previous run left is read from disk, from the checkpoint on. */
  readFrom(position: Position): void {
    this.diskFrom = position;
  }

  /** A record is on disk: hand it over from memory, unless the consumer is reading from disk anyway. */
  stored(record: StoredRecord): void {
    if (this.diskFrom !== undefined) return;
    if (this.memoryUsed + record.body.length <= this.options.memoryBytes) {
      this.memory.push(record);
      this.memoryUsed += record.body.length;
    } else {
      this.diskFrom = record.start;
      this.options.log.warn({ memoryBytes: this.options.memoryBytes }, 'InfluxDB is behind: the sink now reads the spool from disk');
    }
  }

  /** Takes the next records, in order, up to about `maxEvents` (never splits a record). */
  async take(maxEvents: number, maxBytes: number): Promise<Batch | undefined> {
    const records: StoredRecord[] = [];
    let count = 0;
    let bytes = 0;
    const room = (r: StoredRecord): boolean =>
      records.length === 0 || (r.precision === records[0]!.precision && count + r.count <= maxEvents && bytes + r.body.length <= maxBytes);
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
    return { bodies: records.map((r) => r.body), count, bytes, end: last.end, firstAppendedAt: first.appendedAt, precision: first.precision };
  }

  async close(): Promise<void> {
    await this.file?.handle.close();
  }

  /** Reads records from disk at `diskFrom` into `readAhead`; back to memory mode once caught up. */
  private async readFromDisk(): Promise<void> {
    const { segments, log } = this.options;
    let pos = this.diskFrom;
    if (!pos) return;
    while (this.readAhead.length === 0) {
      if (!before(pos, segments.writtenEnd)) {
        this.diskFrom = undefined;
        if (this.file) await this.file.handle.close();
        this.file = undefined;
        log.info('the sink has caught up with the spool');
        return;
      }
      const size = segments.sizeOf(pos.segment);
      if (size === undefined || pos.offset >= size) {
        const nextId = segments.nextAfter(pos.segment);
        if (nextId === undefined) {
          this.diskFrom = undefined;
          return;
        }
        pos = { segment: nextId, offset: 0 };
        this.diskFrom = pos;
        continue;
      }
      const handle = await this.open(pos.segment);
      const length = Math.min(READ_CHUNK_BYTES, size - pos.offset);
      const chunk = Buffer.allocUnsafe(length);
      await handle.read(chunk, 0, length, pos.offset);
      // Bytes below the segment's size were written by this run or verified by recovery.
      let at = 0;
      let record = decodeRecord(chunk, at, false);
      for (; record.ok; record = decodeRecord(chunk, at, false)) {
        this.readAhead.push(stored(record, pos, at));
        at += record.bytes;
      }
      if (at === 0) {
        // One record larger than the chunk: read it whole.
        if (record.claims === undefined) throw new Error(`spool segment ${pos.segment} has a partial record at ${pos.offset}`);
        const whole = Buffer.allocUnsafe(record.claims);
        await handle.read(whole, 0, whole.length, pos.offset);
        const decoded = decodeRecord(whole, 0, false);
        if (!decoded.ok) throw new Error(`spool segment ${pos.segment} has a partial record at ${pos.offset}`);
        this.readAhead.push(stored(decoded, pos, 0));
        at = decoded.bytes;
      }
      pos = { segment: pos.segment, offset: pos.offset + at };
      this.diskFrom = pos;
    }
  }

  private async open(segment: number): Promise<SpoolFile> {
    if (this.file?.segment === segment) return this.file.handle;
    await this.file?.handle.close();
    const handle = await this.options.disk.openForReading(this.options.segments.path(segment));
    this.file = { segment, handle };
    return handle;
  }
}

function stored(record: DecodedRecord, chunkAt: Position, at: number): StoredRecord {
  const start = { segment: chunkAt.segment, offset: chunkAt.offset + at };
  const end = { segment: chunkAt.segment, offset: start.offset + record.bytes };
  return { body: record.body, count: record.count, appendedAt: record.appendedAt, precision: record.precision, start, end, bytes: record.bytes };
}
