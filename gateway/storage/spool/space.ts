import type { Logger } from 'pino';
import { logError } from '../../core/errors.js';
import type { SpoolDisk } from './disk.js';
import type { Segments } from './segments.js';

/** Room above SPOOL_MIN_FREE_BYTES below which the disk counts as full (for /readyz and the log; the limit itself is exact). */
const NEARLY_FULL_BYTES = 64 * 1024;

export interface DiskSpaceOptions {
  readonly dir: string;
  readonly disk: SpoolDisk;
  readonly log: Logger;
  /** SPOOL_MIN_FREE_BYTES; 0: 5% of the disk, at most 64 MiB. */
  readonly minFreeBytes: number;
  /** Sized to the disk at the first reading; its retained segments are the first thing a short disk gets back. */
  readonly segments: Segments;
  /** Bytes appended and not yet written (they will take room too). */
  readonly pending: () => number;
}

/**
 * The disk under the spool: its free space, read every so often and after each release, and
 * counted down by what the spool writes in between. Says when it is (nearly) full, and logs the
 * change once each way.
 */
export class DiskSpace {
  /** Free bytes when last read (undefined: not read yet). */
  private freeBytes: number | undefined;
  private writtenSince = 0;
  private minFree: number;
  private fullSaid = false;

  constructor(private readonly o: DiskSpaceOptions) {
    this.minFree = o.minFreeBytes;
  }

  get free(): number | undefined {
    return this.freeBytes;
  }

  get kept(): number {
    return this.minFree;
  }

  /** Bytes the spool may still write above SPOOL_MIN_FREE_BYTES (undefined before the first reading). */
  get room(): number | undefined {
    return this.freeBytes === undefined ? undefined : Math.max(0, this.freeBytes - this.writtenSince - this.minFree);
  }

  /** (Next to) no room left above SPOOL_MIN_FREE_BYTES: not ready, say so. */
  get full(): boolean {
    return this.freeBytes !== undefined && this.freeBytes - this.writtenSince - this.minFree - this.o.pending() < NEARLY_FULL_BYTES;
  }

  wrote(bytes: number): void {
    this.writtenSince += bytes;
  }

  /** Reads the free space (an unreadable disk leaves the last reading standing). */
  async read(): Promise<void> {
    const { dir, disk, log, segments } = this.o;
    try {
      const { free, size } = await disk.space(dir);
      if (this.freeBytes === undefined) {
        segments.fitTo(size);
        if (this.minFree === 0) this.minFree = Math.min(64 * 1024 * 1024, Math.floor(size / 20));
      }
      this.freeBytes = free;
      this.writtenSince = 0;
    } catch {
      return;
    }
    const full = this.full;
    // Segments kept only for the next start's point identity are the first thing a short disk gets back.
    if (full && segments.retainedBytes > 0) {
      await segments.dropRetained().catch(() => undefined);
      return this.read();
    }
    if (full && !this.fullSaid) {
      logError(log, 'GW_ERR_SPOOL_DISK_FULL', { freeBytes: this.freeBytes, minFreeBytes: this.minFree, dir }, 'the disk under the spool is nearly full: QoS 1 is not acknowledged and QoS 0 is dropped until InfluxDB takes what the spool holds (its segments are then deleted) or space is freed');
    } else if (!full && this.fullSaid) {
      log.info({ freeBytes: this.freeBytes }, 'the disk under the spool has room again');
    }
    this.fullSaid = full;
  }
}
