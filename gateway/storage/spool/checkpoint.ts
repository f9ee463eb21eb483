import { join } from 'node:path';
import type { Logger } from 'pino';
import { logError } from '../../core/errors.js';
import type { SpoolDisk } from './disk.js';
import { before, type Position } from './position.js';

/** Confirmations come in bursts; the file is rewritten at most this often. */
const PERSIST_AFTER_MS = 200;

export interface CheckpointOptions {
  readonly dir: string;
  /** The file's name in `dir` (default `checkpoint.json`: the sink's; a second consumer has its own). */
  readonly file?: string;
  readonly disk: SpoolDisk;
  readonly log: Logger;
  /** Called with each checkpoint before it is written: what lies behind it may go. */
  readonly release: (checkpoint: Position) => Promise<void>;
}

/**
 * How far InfluxDB has the spool, in `checkpoint.json`: on open, everything after it is
 * replayed. Written atomically (a temp file, then a rename), one write at a time, a little
 * after the consumer confirms.
 */
export class Checkpoint {
  private at: Position = { segment: 0, offset: 0 };
  private timer: NodeJS.Timeout | undefined;
  /** One checkpoint write at a time (two would share the temp file). */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: CheckpointOptions) {}

  get position(): Position {
    return this.at;
  }

  private get path(): string {
    return join(this.options.dir, this.options.file ?? 'checkpoint.json');
  }

  /** Reads the checkpoint a previous run left; without one, replay starts at `fallbackSegment`. */
  async read(fallbackSegment: number): Promise<Position> {
    this.at = { segment: fallbackSegment, offset: 0 };
    try {
      const doc = JSON.parse((await this.options.disk.readFile(this.path)).toString('utf8')) as Partial<Position>;
      if (Number.isInteger(doc.segment) && Number.isInteger(doc.offset)) this.at = { segment: doc.segment!, offset: doc.offset! };
    } catch {
      // No checkpoint yet: replay everything there is.
    }
    return this.at;
  }

  /** Sets the checkpoint without writing it (nothing to replay: it starts where writing starts). */
  reset(to: Position): void {
    this.at = to;
  }

  /** Moves the checkpoint forward to `to` and writes it soon; false (and nothing done) if `to` is behind it. */
  advance(to: Position): boolean {
    if (before(to, this.at)) return false;
    this.at = to;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.persist();
    }, PERSIST_AFTER_MS);
    return true;
  }

  /** Writes the checkpoint now (after any write under way), e.g. at close. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.persist();
  }

  private persist(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  private async write(): Promise<void> {
    const { disk, log, release } = this.options;
    const checkpoint = this.at;
    try {
      // What InfluxDB holds goes first: on a full disk the checkpoint itself may not be writable,
      // and freeing space must not need space. A crash in between replays from the old checkpoint
      // (the segments it names may be gone: replay starts at the next one; writes are idempotent).
      await release(checkpoint);
      await disk.writeFile(`${this.path}.tmp`, JSON.stringify(checkpoint));
      await disk.rename(`${this.path}.tmp`, this.path);
    } catch (err) {
      logError(log, 'GW_ERR_SPOOL_WRITE', { err }, 'could not persist the spool checkpoint; events may be written twice after a restart (harmless)');
    }
  }
}
