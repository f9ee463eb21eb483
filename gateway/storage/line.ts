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
const STRING_SPECIAL = /["\\]/g;

export function measurement(name: string): string {
  return name.replace(MEASUREMENT_SPECIAL, '\\$&');
}

export function tagValue(value: string): string {
  const safe = value === '' ? '_' : value.replace(TAG_UNSAFE, (c) => (c === '\\' ? '\\_' : ' '));
  return safe.replace(TAG_SPECIAL, '\\$&');
}

export function stringField(value: string): string {
  return `"${value.replace(STRING_SPECIAL, '\\$&')}"`;
}

export function floatField(value: number): string {
  // InfluxDB reads a number without the `i` suffix as a float.
  return Number.isFinite(value) ? String(value) : '0';
}

export function intField(value: number): string {
  return `${Math.trunc(value)}i`;
}

export type Tags = Readonly<Record<string, string>>;
export type Field = { readonly float: number } | { readonly int: number } | { readonly str: string } | { readonly bool: boolean };
export type Fields = Readonly<Record<string, Field | undefined>>;

function field(f: Field): string {
  if ('float' in f) return floatField(f.float);
  if ('int' in f) return intField(f.int);
  if ('str' in f) return stringField(f.str);
  return f.bool ? 'true' : 'false';
}

/** One line of line protocol, `\n`-terminated. Tag keys are sorted, as InfluxDB prefers. */
export function line(name: string, tags: Tags, fields: Fields, timeMs: number): string {
  let out = measurement(name);
  for (const key of Object.keys(tags).sort()) out += `,${key}=${tagValue(tags[key] ?? '')}`;
  let sep = ' ';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out += `${sep}${key}=${field(value)}`;
    sep = ',';
  }
  return `${out} ${Math.trunc(timeMs)}\n`;
}

/** The measurement a line is a point of (unescaped). */
export function measurementOf(pointLine: string): string {
  const end = /(?<!\\)[, ]/.exec(pointLine)?.index ?? pointLine.length;
  return pointLine.slice(0, end).replace(/\\([, ])/g, '$1');
}
