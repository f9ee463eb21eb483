import type { SpoolDisk } from './disk.js';
import { decodeRecord } from './record.js';
import type { RecordVisitor } from './segments.js';

/** Bytes of segments InfluxDB already holds that are kept a little longer, at most. */
export const DEFAULT_RETAIN_BYTES = 16 * 1024 * 1024;
/** A disk this small keeps nothing InfluxDB holds. */
const SMALL_DISK_BYTES = 1024 ** 3;

/**
 * Segments InfluxDB holds, kept a little longer (at most `budget` bytes, the newest), so that the
 * next start can read back the points they placed: the store's point identity (which event holds
 * offset 0 of a millisecond) survives a crash for the events a device may still resend — one
 * whose acknowledgement the crash lost while InfluxDB already had it. Given up first when the
 * disk is short (`drop`), so a small disk is never held by them.
 */
export class Retention {
  /** Retained segments (id → bytes), oldest first. */
  private readonly kept = new Map<number, number>();
  private budget: number;

  constructor(
    private readonly disk: SpoolDisk,
    private readonly path: (id: number) => string,
    private readonly maxBytes = DEFAULT_RETAIN_BYTES,
  ) {
    this.budget = maxBytes;
  }

  /** On a small disk (under 1 GiB) nothing is kept: every byte InfluxDB holds is given back at once. */
  fitTo(diskBytes: number): void {
    this.budget = diskBytes < SMALL_DISK_BYTES ? 0 : Math.min(this.maxBytes, Math.floor(diskBytes / 64));
  }

  get bytes(): number {
    let sum = 0;
    for (const size of this.kept.values()) sum += size;
    return sum;
  }

  /** A segment InfluxDB now holds whole: kept if the budget allows, older ones deleted to make room. */
  async keep(id: number, size: number): Promise<void> {
    this.kept.set(id, size);
    await this.trim(this.budget);
  }

  /** The disk is short: delete every retained segment. */
  drop(): Promise<void> {
    return this.trim(0);
  }

  /**
   * At start, segments wholly behind the checkpoint (`ids`, oldest first): the newest that fit the
   * budget are read back through `visit`, oldest first, and kept; the rest are deleted.
   */
  async recover(ids: readonly number[], visit: RecordVisitor | undefined): Promise<void> {
    const chosen: { id: number; data: Buffer }[] = [];
    let bytes = 0;
    for (const id of [...ids].reverse()) {
      let data: Buffer | undefined;
      if (visit && bytes < this.budget) data = await this.disk.readFile(this.path(id)).catch(() => undefined);
      if (data && bytes + data.length <= this.budget) {
        chosen.unshift({ id, data });
        bytes += data.length;
      } else {
        await this.disk.remove(this.path(id));
      }
    }
    for (const { id, data } of chosen) {
      recall(data, 0, data.length, visit);
      this.kept.set(id, data.length);
    }
  }

  private async trim(budget: number): Promise<void> {
    let bytes = this.bytes;
    for (const [id, size] of this.kept) {
      if (bytes <= budget) break;
      this.kept.delete(id);
      bytes -= size;
      await this.disk.remove(this.path(id));
    }
  }
}

/** Hands the valid records of `data` between `from` and `to` to `visit` (a torn tail ends them). */
export function recall(data: Buffer, from: number, to: number, visit: RecordVisitor | undefined): void {
  if (!visit) return;
  for (let at = from, record = decodeRecord(data, at); record.ok && at < to; record = decodeRecord(data, at)) {
    visit(record.body, record.precision);
    at += record.bytes;
  }
}
