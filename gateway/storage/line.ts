/**
 * InfluxDB line protocol, written once per event (the same string goes to the spool and to
 * InfluxDB, so nothing is serialised twice).
 *
 * Escaping (checked against InfluxDB 1.6 here): measurements escape `,` and space; tag keys and
 * values escape `,`, `=` and space; string fields escape `"` and `\` and may hold newlines.
 * 1.x cannot store a newline in a tag, nor a tag ending in `\`: those become a space / `\ `
 * would corrupt the line, so tagValue() replaces them. Every tag the gateway writes comes from
 * validated topic segments, codes or rule names, so this only matters for hostile rule names.
 */

const MEASUREMENT_SPECIAL = /[, ]/g;
const TAG_SPECIAL = /[,= ]/g;
const TAG_UNSAFE = /[\r\n]|\\$/g;

/** The few measurement names the gateway writes, escaped once. */
const measurements = new Map<string, string>();

export function measurement(name: string): string {
  let escaped = measurements.get(name);
  if (escaped === undefined) {
    escaped = name.replace(MEASUREMENT_SPECIAL, '\\$&');
    if (measurements.size < 1000) measurements.set(name, escaped);
  }
  return escaped;
}

/** Anything tagValue() would change: most tags (topic segments, codes, rule names) have none, and are returned as they are. */
const TAG_CHANGED = /[,= \r\n\\]/;

export function tagValue(value: string): string {
  if (value === '') return '_';
  if (!TAG_CHANGED.test(value)) return value;
  const safe = value.replace(TAG_UNSAFE, (c) => (c === '\\' ? '\\_' : ' '));
  return safe.replace(TAG_SPECIAL, '\\$&');
}

export function stringField(value: string): string {
  // Most values (every event id the gateway makes) need no escape: two scans; else two plain
  // replaces (about twice as fast as one regex replace with `$&`). Backslashes first.
  if (!value.includes('"') && !value.includes('\\')) return `"${value}"`;
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/**
 * A value as JSON in a string field: what stringField(JSON.stringify(value)) gives, about five
 * times faster on the deciding facts of a command. JSON text holds no raw control character nor
 * lone surrogate (JSON.stringify escapes them), so quoting it as a JSON string escapes exactly
 * `"` and `\`, as line protocol wants. A value JSON cannot hold (undefined) is `null`.
 */
export function jsonField(value: unknown): string {
  return JSON.stringify(JSON.stringify(value) ?? 'null');
}

export function floatField(value: number): string {
  // InfluxDB reads a number without the `i` suffix as a float.
  return Number.isFinite(value) ? String(value) : '0';
}

export function intField(value: number): string {
  return `${Math.trunc(value)}i`;
}

export type Tags = Readonly<Record<string, string>>;
export type Field = { readonly float: number } | { readonly int: number } | { readonly str: string } | { readonly json: unknown } | { readonly bool: boolean };
export type Fields = Readonly<Record<string, Field | undefined>>;

function field(f: Field): string {
  if ('float' in f) return floatField(f.float);
  if ('int' in f) return intField(f.int);
  if ('str' in f) return stringField(f.str);
  if ('json' in f) return jsonField(f.json);
  return f.bool ? 'true' : 'false';
}

/**
 * A point's time as line protocol writes it at ns precision: the millisecond, then the
 * sub-millisecond offset in ns. A string: ms × 1e6 is past 2^53, where a number loses digits.
 */
export function pointTime(ms: number, offsetNs: number): string {
  if (ms === 0) return String(offsetNs);
  return offsetNs === 0 ? `${ms}000000` : `${ms}${String(offsetNs).padStart(6, '0')}`;
}

/** Chooses a point's time (storage/event-store.ts) once its series (measurement and tags, as in the line) is known. */
export type PointTimeOf = (series: string) => string;

/** The tags' keys in order: the points write them sorted already, so this is a check, not a sort, per line. */
function sortedKeys(tags: Tags): string[] {
  const keys = Object.keys(tags);
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return keys.sort();
  return keys;
}

/** One line of line protocol, `\n`-terminated. Tag keys are sorted, as InfluxDB prefers. */
export function line(name: string, tags: Tags, fields: Fields, time: PointTimeOf): string {
  let series = measurement(name);
  for (const key of sortedKeys(tags)) series += `,${key}=${tagValue(tags[key] ?? '')}`;
  let out = '';
  let sep = ' ';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out += `${sep}${key}=${field(value)}`;
    sep = ',';
  }
  return `${series}${out} ${time(series)}\n`;
}

/**
 * What identifies a point a line holds: its series (measurement and tags, escaped as written),
 * its millisecond and offset, the event id it carries (undefined for points without one), and a
 * reading's value (NaN for other points).
 * `ns`: the line's time is in ns (else ms, a line an older version left in the spool).
 */
export function pointOf(pointLine: string, ns: boolean): { series: string; ms: number; offset: number; id: string | undefined; value: number } | undefined {
  const end = /(?<!\\) /.exec(pointLine)?.index;
  const timeAt = pointLine.trimEnd().lastIndexOf(' ');
  if (end === undefined || timeAt <= end) return undefined;
  const time = pointLine.slice(timeAt + 1).trim();
  if (!/^\d+$/.test(time)) return undefined;
  const ms = ns ? (time.length > 6 ? Number(time.slice(0, -6)) : 0) : Number(time);
  const offset = ns ? Number(time.slice(-6)) : 0;
  const id = /[ ,]event_id="((?:[^"\\]|\\.)*)"/.exec(pointLine.slice(end))?.[1]?.replace(/\\(["\\])/g, '$1');
  // A reading's value (its first field): which content of a reused id the point is. NaN: none.
  const value = Number(/^ value=(-?[\d.]+(?:e[+-]?\d+)?)[, ]/i.exec(pointLine.slice(end))?.[1] ?? Number.NaN);
  return { series: pointLine.slice(0, end), ms, offset, id, value };
}

/** The measurement a line is a point of (unescaped). */
export function measurementOf(pointLine: string): string {
  const end = /(?<!\\)[, ]/.exec(pointLine)?.index ?? pointLine.length;
  return pointLine.slice(0, end).replace(/\\([, ])/g, '$1');
}
