import type { ReadingEvent, ZoneArmedEvent } from '../core/events.js';
import { fromNumber, isKind } from '../core/kinds.js';
import { Reading } from '../ingest/envelope.js';

/**
 * The way back from a spool line to the event it was made from, for the lines the cluster's
 * forwarder carries to the rules: readings (`readingPoint`) and armed zones (`zoneArmedPoint`).
 * Only these two layouts, written by points.ts and nowhere else, are read: tags are validated
 * segments (never escaped), the only free text is the `event_id` string field.
 */

const READING = /^([a-z0-9]+),device=([A-Za-z0-9_-]+),site=([A-Za-z0-9_-]+),zone=([A-Za-z0-9_-]+) value=([^,]+)(?:,seq=(-?\d+)i)?,event_id="((?:[^"\\]|\\.)*)" (-?\d+)$/;
const ARMED = /^zone_state,site=([A-Za-z0-9_-]+),zone=([A-Za-z0-9_-]+) armed=(true|false),event_id="((?:[^"\\]|\\.)*)" (-?\d+)$/;
/** The measurement and site of a line, without parsing the rest (the forwarder's routing). */
const ROUTE = /^([a-z0-9_]+),(?:device=[A-Za-z0-9_-]+,)?site=([A-Za-z0-9_-]+),/;

const unescape = (s: string): string => s.replace(/\\(["\\])/g, '$1');

export type ParsedPoint = { readonly type: 'reading'; readonly event: ReadingEvent } | { readonly type: 'zoneArmed'; readonly event: ZoneArmedEvent };

/** The measurement and site of a reading or zone_state line; undefined for any other line. */
export function routeOf(line: string): { readonly measurement: string; readonly site: string } | undefined {
  const m = ROUTE.exec(line);
  if (!m) return undefined;
  const measurement = m[1]!;
  if (measurement !== 'zone_state' && !isKind(measurement)) return undefined;
  return { measurement, site: m[2]! };
}

/**
 * A reading or zone_state line (without its newline) back as its event; `receivedAtMs` is when
 * it was received (the spool record's time), which the line does not hold.
 */
export function parsePoint(line: string, receivedAtMs: number, clientId?: string): ParsedPoint | undefined {
  const r = READING.exec(line);
  if (r) {
    const kind = r[1]!;
    if (!isKind(kind)) return undefined;
    const [device, site, zone, value, seq, id, time] = [r[2]!, r[3]!, r[4]!, Number(r[5]), r[6], unescape(r[7]!), Number(r[8])];
    // The envelope ingest makes: its ISO times are formatted only if read.
    const event = new Reading(id, `sensor.${kind}`, `${site}/${zone}/${device}`, site, zone, device, kind, fromNumber(kind, value), value, seq === undefined ? undefined : Number(seq), time, receivedAtMs, clientId);
    return { type: 'reading', event };
  }
  const a = ARMED.exec(line);
  if (a) {
    const timeMs = Number(a[5]);
    return { type: 'zoneArmed', event: { id: unescape(a[4]!), site: a[1]!, zone: a[2]!, armed: a[3] === 'true', time: new Date(timeMs).toISOString(), timeMs } };
  }
  return undefined;
}
