/**
 * A device may reuse a reading id (its counter restarted: the same id with other content): each
 * such reading is stored as its own point, so the trace of that id shows every one of them and
 * says how many carry it, rather than the one a map by id kept.
 */
import type { HistoryItem } from '../core/history.js';
import type { TraceStep } from './trace.js';

/** One reading point: its id, series and millisecond (a reused id is several points). */
const pointKey = (id: string, source: string, kind: string, t: number): string => `${id}|${source}|${kind}|${Math.floor(t)}`;

/** One stored event: a reading by its point, anything else by its id. */
export function itemKey(i: HistoryItem): string {
  return i.type === 'reading' ? `reading:${pointKey(i.event.id, i.event.source, i.event.kind, i.event.timeMs)}` : `${i.type}:${i.event.id}`;
}

/** `reused`: how many readings of the steps carry `id`, when more than one. */
export function reuseOf(id: string | undefined, steps: readonly TraceStep[]): { reused?: number } {
  const n = steps.filter((s) => s.step === 'reading' && s.id === id).length;
  return n > 1 ? { reused: n } : {};
}
