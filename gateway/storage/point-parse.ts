import type { ActuatorStateEvent, DeviceStatusEvent, ReadingEvent, ZoneArmedEvent } from '../core/events.js';
import { fromNumber, isKind, type Kind } from '../core/kinds.js';
import { Reading } from '../ingest/envelope.js';

/**
 * The way back from a spool line to the event it was made from, for the lines the cluster's
 * forwarder carries to the rules: readings (`readingPoint`), armed zones (`zoneArmedPoint`), what
 * actuators report (`actuatorStatePoint`, for the command sagas; with `came_back` when the device
 * had just come back, so the owner puts it back as one gateway does) and what devices say on their
 * status topic (`deviceStatusPoint`; not the gateway's silences, which carry `silent`: the rules
 * do not take those on one gateway either). Only these layouts, written
 * by points.ts and nowhere else, are read: tags are validated segments (never escaped), the only
 * free text is in string fields. A line's time is in ns, or in ms for a record an older version
 * left in the spool (the record's precision flag says which).
 */

const SEG = '([A-Za-z0-9_-]+)';
const STR = '"((?:[^"\\\\]|\\\\.)*)"';
const READING = new RegExp(`^${SEG},device=${SEG},site=${SEG},zone=${SEG} value=([^,]+)(?:,seq=(-?\\d+)i)?,event_id=${STR} (\\d+)$`);
const ARMED = new RegExp(`^zone_state,site=${SEG},zone=${SEG} armed=(true|false),event_id=${STR} (\\d+)$`);
const ACTUATOR = new RegExp(`^actuator_state,actuator=${SEG},site=${SEG},zone=${SEG} state=${STR},device=${STR}(?:,came_back=${STR})?,event_id=${STR} (\\d+)$`);
const STATUS = new RegExp(`^device_status,device=${SEG} online=(true|false),event_id=${STR} (\\d+)$`);
/** The measurement and site of a line, without parsing the rest (the forwarder's routing). */
const ROUTE = /^([A-Za-z0-9_-]+),(?:[^ ]*,)?site=([A-Za-z0-9_-]+)[, ]/;

const unescape = (s: string): string => s.replace(/\\(["\\])/g, '$1');

/** A line's time in epoch ms: ns lines hold the ms, then six digits of sub-ms offset. */
function msOf(time: string, ns: boolean): number {
  if (!ns) return Number(time);
  return time.length > 6 ? Number(time.slice(0, -6)) : 0;
}

export type ParsedPoint =
  | { readonly type: 'reading'; readonly event: ReadingEvent }
  | { readonly type: 'zoneArmed'; readonly event: ZoneArmedEvent }
  | { readonly type: 'actuatorState'; readonly event: ActuatorStateEvent }
  | { readonly type: 'deviceStatus'; readonly event: DeviceStatusEvent };

/**
 * The measurement and site of a reading, zone_state or actuator_state line; a device's status
 * names no site (`site` undefined: the forwarder sends it to every partition); undefined for any other line.
 */
export function routeOf(line: string): { readonly measurement: string; readonly site: string | undefined } | undefined {
  const m = ROUTE.exec(line);
  if (!m) return line.startsWith('device_status,') && STATUS.test(line) ? { measurement: 'device_status', site: undefined } : undefined;
  const measurement = m[1]!;
  if (measurement !== 'zone_state' && measurement !== 'actuator_state' && !isKind(measurement)) return undefined;
  return { measurement, site: m[2]! };
}

/**
 * A forwarded line (without its newline) back as its event; `receivedAtMs` is when it was
 * received (the spool record's time), which the line does not hold; `ns` is the record's precision.
 */
export function parsePoint(line: string, receivedAtMs: number, ns = true, clientId?: string): ParsedPoint | undefined {
  const r = READING.exec(line);
  if (r) {
    const kind: Kind = r[1]!;
    if (!isKind(kind)) return undefined;
    const [device, site, zone, value, seq, id, time] = [r[2]!, r[3]!, r[4]!, Number(r[5]), r[6], unescape(r[7]!), msOf(r[8]!, ns)];
    // The envelope ingest makes: its ISO times are formatted only if read.
    const event = new Reading(id, `sensor.${kind}`, `${site}/${zone}/${device}`, site, zone, device, kind, fromNumber(kind, value), value, seq === undefined ? undefined : Number(seq), time, receivedAtMs, clientId);
    return { type: 'reading', event };
  }
  const a = ARMED.exec(line);
  if (a) {
    const timeMs = msOf(a[5]!, ns);
    return { type: 'zoneArmed', event: { id: unescape(a[4]!), site: a[1]!, zone: a[2]!, armed: a[3] === 'true', time: new Date(timeMs).toISOString(), timeMs } };
  }
  const s = ACTUATOR.exec(line);
  if (s) {
    let state: Record<string, unknown>;
    try {
      state = JSON.parse(unescape(s[4]!)) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const timeMs = msOf(s[8]!, ns);
    const cameBack = s[6] === undefined ? {} : { cameBack: unescape(s[6]) };
    return { type: 'actuatorState', event: { id: unescape(s[7]!), actuator: s[1]!, site: s[2]!, zone: s[3]!, state, device: unescape(s[5]!), time: new Date(timeMs).toISOString(), timeMs, clientId, ...cameBack } };
  }
  const d = STATUS.exec(line);
  if (d) {
    const timeMs = msOf(d[4]!, ns);
    return { type: 'deviceStatus', event: { id: unescape(d[3]!), device: d[1]!, online: d[2] === 'true', time: new Date(timeMs).toISOString(), timeMs, clientId } };
  }
  return undefined;
}
