/**
 * A device may reuse a reading id (its counter restarted: the same id with other content): each
 * such reading is stored as its own point, so the trace of that id shows every one of them and
 * says how many carry it, rather than the one memory or a map by id kept.
 */
import type { ReadingEvent } from '../core/events.js';
import type { History, HistoryItem } from '../core/history.js';
import type { Trace, TraceStep } from './trace.js';

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

/** A chain from memory (which keeps the first reading of an id) with the other stored readings of its root's id. */
export async function withStoredReuses(trace: Trace, history: History, readingStep: (r: ReadingEvent) => TraceStep): Promise<Trace> {
  const root = trace.root;
  if (root === undefined) return trace;
  let stored: HistoryItem[];
  try {
    stored = await history.related([root]);
  } catch {
    // What memory holds stands when InfluxDB does not answer.
    return trace;
  }
  const have = new Set(trace.steps.flatMap((s) => (s.step === 'reading' ? [pointKey(s.id, s.source, s.kind, s.t)] : [])));
  const more = stored.flatMap((i) => (i.type === 'reading' && i.event.id === root && !have.has(pointKey(i.event.id, i.event.source, i.event.kind, i.event.timeMs)) ? [readingStep(i.event)] : []));
  if (more.length === 0) return trace;
  const steps = [...trace.steps, ...more].sort((a, b) => a.t - b.t);
  return { ...trace, steps, ...reuseOf(root, steps) };
}
