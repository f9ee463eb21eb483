import type { Logger } from 'pino';
import { Backlog } from './backlog.js';
import { Checkpoint } from './checkpoint.js';
import type { SpoolDisk } from './disk.js';
import { before, type Position } from './position.js';
import { Reader, type Batch, type StoredRecord } from './reader.js';
import type { Recovered, Segments } from './segments.js';

/** What a further consumer has not confirmed yet. */
export interface CursorStats {
  readonly events: number;
  readonly bytes: number;
  /** Epoch ms when the oldest record it has not confirmed was appended. */
  readonly oldestAppendedAt: number | undefined;
}

/** A further consumer's view of the journal: the same records in the same order, at its own pace. */
export interface JournalCursor {
  take(maxEvents: number, maxBytes?: number): Promise<Batch | undefined>;
  /** The batch is safely where this consumer puts it: move its checkpoint past it. */
  confirm(batch: Batch): void;
  onReadable(listener: () => void): void;
  stats(): CursorStats;
  /**
   * The disk under the spool is (nearly) full and this consumer is behind the sink: the segments
   * only it still needs keep the spool from taking events (what it should pass over, see the forwarder).
   */
  crowdsDisk(): boolean;
}

class Consumer implements JournalCursor {
  listener: (() => void) | undefined;
  /** What it has not confirmed, counted as the sink's is: no limit (the disk is the forwarder's bound, `crowdsDisk`). */
  private readonly backlog = new Backlog(() => Number.POSITIVE_INFINITY, () => 0);

  constructor(
    readonly reader: Reader,
    readonly checkpoint: Checkpoint,
    private readonly crowded: (at: Position) => boolean,
  ) {}

  take(maxEvents: number, maxBytes = 8 * 1024 * 1024): Promise<Batch | undefined> {
    return this.reader.take(maxEvents, maxBytes);
  }

  confirm(batch: Batch): void {
    if (!this.checkpoint.advance(batch.end)) return;
    this.backlog.confirmed(batch.bytes, batch.count, this.reader.nextAppendedAt);
  }

  onReadable(listener: () => void): void {
    this.listener = listener;
  }

  added(events: number, bytes: number, appendedAt: number | undefined): void {
    this.backlog.added(bytes, events, appendedAt);
  }

  stats(): CursorStats {
    return { events: this.backlog.events, bytes: this.backlog.bytes, oldestAppendedAt: this.backlog.oldestAppendedAt };
  }

  crowdsDisk(): boolean {
    return this.crowded(this.checkpoint.position);
  }
}

export interface ConsumersOptions {
  readonly names: readonly string[];
  readonly dir: string;
  readonly disk: SpoolDisk;
  readonly log: Logger;
  readonly segments: Segments;
  readonly memoryBytes: number;
  /** A consumer's checkpoint is about to be written: what every consumer is past may go. */
  readonly release: () => Promise<void>;
  /** Whether a consumer at this position holds the disk full (journal.ts knows the disk and the sink). */
  readonly crowded: (at: Position) => boolean;
}

/**
 * The spool's consumers besides the sink (the cluster's forwarder): each reads every record in
 * order from its own checkpoint (`checkpoint-<name>.json`) with its own reader. A segment is
 * deleted only once the sink and every one of them are past it (`earliest`).
 */
export class Consumers {
  private readonly all = new Map<string, Consumer>();

  constructor(o: ConsumersOptions) {
    const { dir, disk, log, segments, memoryBytes, release, crowded } = o;
    for (const name of o.names) {
      const reader = new Reader({ segments, disk, log: log.child({ consumer: name }), memoryBytes });
      this.all.set(name, new Consumer(reader, new Checkpoint({ dir, disk, log, release, file: `checkpoint-${name}.json` }), crowded));
    }
  }

  cursor(name: string): JournalCursor {
    const consumer = this.all.get(name);
    if (!consumer) throw new Error(`the journal has no consumer ${JSON.stringify(name)}`);
    return consumer;
  }

  /** Each one's checkpoint from the previous run, in order. */
  async read(fallbackSegment: number): Promise<Position[]> {
    const positions: Position[] = [];
    for (const c of this.all.values()) positions.push(await c.checkpoint.read(fallbackSegment));
    return positions;
  }

  /** What recovery found after each one's checkpoint (same order as `read`). */
  opened(found: readonly Recovered[], positions: readonly Position[], start: Position): void {
    [...this.all.values()].forEach((c, i) => {
      const f = found[i]!;
      c.added(f.events, f.bytes, f.firstAppendedAt);
      if (f.events > 0) c.reader.readFrom(positions[i]!);
      else c.checkpoint.reset(start);
    });
  }

  /** The earliest of `sink` and every consumer's checkpoint: nothing after it may be deleted. */
  earliest(sink: Position): Position {
    let earliest = sink;
    for (const c of this.all.values()) if (before(c.checkpoint.position, earliest)) earliest = c.checkpoint.position;
    return earliest;
  }

  /** A segment one of their readers has open. */
  reading(id: number): boolean {
    for (const c of this.all.values()) if (c.reader.openSegment === id) return true;
    return false;
  }

  stored(record: StoredRecord): void {
    for (const c of this.all.values()) {
      c.added(record.count, record.bytes, record.appendedAt);
      c.reader.stored(record);
    }
    for (const c of this.all.values()) c.listener?.();
  }

  async close(): Promise<void> {
    for (const c of this.all.values()) await c.checkpoint.close();
    for (const c of this.all.values()) await c.reader.close();
  }
}
