import type { Logger } from 'pino';
import { logWarn } from '../../core/errors.js';
import type { SpoolDisk } from './disk.js';
import { decodeRecord, type Precision } from './record.js';
import { recall } from './retention.js';
import type { RecordVisitor } from './segments.js';

/** A whole record recovery keeps, at its offset in the segment. */
export type RecoveredRecord = { body: Buffer; precision: Precision; count: number; bytes: number; appendedAt: number };

/**
 * Reads a previous run's segment back at start: verifies it from `from`, calling `each` for every
 * whole record, and sets a torn, zero-filled or damaged tail aside (a crash mid-write); returns
 * its valid size. The records before `from` (every consumer is past them) only `visit` sees.
 */
export async function verifySegment(
  o: { readonly disk: SpoolDisk; readonly log: Logger; readonly path: string; readonly id: number },
  from: number,
  visit: RecordVisitor | undefined,
  each: (at: number, record: RecoveredRecord) => void,
): Promise<number> {
  const { disk, log, path, id } = o;
  const data = await disk.readFile(path);
  // What InfluxDB holds of this segment and every consumer is past: only for the point identity of the next events.
  recall(data, 0, from, visit);
  let at = from;
  // A torn, zero-filled or damaged record ends what is kept: decodeRecord says which.
  for (let record = decodeRecord(data, at); record.ok; record = decodeRecord(data, at)) {
    each(at, record);
    at += record.bytes;
  }
  if (at < data.length) {
    let aside: string | null = `${path}.damaged-${at}`;
    try {
      await disk.writeFile(aside, data.subarray(at));
      await disk.truncate(path, at);
    } catch (err) {
      // A full disk cannot take the copy: the tail stays where it is, past the segment's valid
      // size (nothing reads it), and the start goes on.
      await disk.remove(aside).catch(() => undefined);
      aside = null;
      logWarn(log, 'GW_ERR_SPOOL_CORRUPT', { segment: id, offset: at, bytes: data.length - at, setAside: null, reason: (err as NodeJS.ErrnoException).code ?? String(err) }, 'spool segment ends in a torn or damaged record; it could not be set aside (disk full?) and is left in place, unread');
    }
    if (aside) {
      logWarn(log, 'GW_ERR_SPOOL_CORRUPT', { segment: id, offset: at, bytes: data.length - at, setAside: aside }, 'spool segment ends in a torn or damaged record (a crash mid-write); the tail was set aside');
    }
  }
  return at;
}
