/** How `npm run deadletters` shows kept dead letters to people: one line each, then counts. */
import type { KeptDeadLetter } from '../core/archive.js';
import { printable } from './terminal.js';

/** At most `max` characters on one line: newlines shown as ⏎, other controls escaped (devices sent them), the rest cut with …. */
function shorten(text: string, max: number): string {
  const one = printable(text.replace(/\r?\n/g, '⏎'));
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}

const COLUMNS = ['time', 'reason', 'topic', 'client', 'detail', 'payload'] as const;

/** A table: time, reason, topic, client, detail and payload (both shortened); `extra` adds a first column. */
export function letterTable<L extends KeptDeadLetter>(letters: readonly L[], extra?: { title: string; of: (dl: L) => string }): string {
  const rows = letters.map((dl) => [
    ...(extra ? [extra.of(dl)] : []),
    new Date(dl.timeMs).toISOString(),
    printable(dl.reason),
    shorten(dl.topic, 48),
    printable(dl.clientId ?? '-'),
    shorten(dl.detail, 60),
    shorten(dl.payload, 40),
  ]);
  const head = [...(extra ? [extra.title] : []), ...COLUMNS];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** "3 unassigned_device, 1 unknown_kind", most first. */
export function byReason(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([r, n]) => `${n} ${printable(r)}`)
    .join(', ');
}

export const total = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);
