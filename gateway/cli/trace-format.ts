import type { DecidingFact } from '../core/events.js';
import type { Trace, TraceStep } from '../rules/trace.js';
import { printable } from './terminal.js';

/** A value as a person reads it in one line. */
function show(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v) ?? String(v);
}

/** `value 31 greaterThan 28 ✓`, `anyInSite(kind smoke) false equal false ✓` */
function describeFact(f: DecidingFact): string {
  const params = f.params && Object.keys(f.params).length > 0 ? `(${Object.entries(f.params).map(([k, v]) => `${k} ${show(v)}`).join(', ')})` : '';
  return `${f.fact}${params} = ${show(f.factResult)} ${f.operator} ${show(f.value)} ${f.result ? '✓' : '✗'}`;
}

function what(s: TraceStep): [string, string] {
  switch (s.step) {
    case 'reading':
      return ['reading', `${s.id}  ${s.source} ${s.kind} = ${show(s.value)}`];
    case 'wake':
      return ['woke', s.what];
    case 'firing':
      return ['rule', `${s.rule} fired${s.facts.length > 0 ? `: ${s.facts.map(describeFact).join('; ')}` : ''}`];
    case 'held-back':
      return ['held back', `${s.rule} → ${s.target}: ${s.why}`];
    case 'command':
      return ['command', `${s.id}  ${s.topic} ${show(s.data)} (${s.rule})`];
    case 'alert':
      return ['notified', `${s.id}  ${s.topic} "${s.message}" (${s.rule}${s.alarmId ? `, alarm ${s.alarmId}` : ''})`];
    case 'status':
      return [s.status, `command ${s.commandId}${s.attempt > 0 ? `, resend ${s.attempt}` : ''}${s.reported !== undefined ? `, reported ${show(s.reported)}` : ''}${s.detail ? ` — ${s.detail}` : ''}`];
    case 'alarm':
      return [`alarm ${s.transition}`, `${s.alarmId}  ${s.rule} (${s.severity}) ×${s.count}: ${s.message}${s.reason ? ` — ${s.reason}` : ''}`];
  }
}

function gap(ms: number): string {
  if (ms < 1000) return `+${ms}ms`;
  if (ms < 60_000) return `+${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  return `+${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/**
 * Said under a reading with nothing after it: the trace keeps no run that changed nothing beyond
 * the gateway's recent memory (the steady state of a hot zone would cost every reading), and
 * InfluxDB holds only what went out.
 */
export const NOTHING_KEPT =
  'no rule firing was kept for this reading: no rule matched it, or what fired changed nothing (the actuator already in that state, ' +
  "an alarm updated between notifications) or was held back (minimum on/off time, taken over by hand, another rule's command won): " +
  "such runs are kept only in the running gateway's memory, while recent, and not in InfluxDB";

/** The chain, one step a line: time, gap since the step before, what happened (ids, topics and messages from devices escaped: terminal.ts). */
export function formatTrace(t: Trace): string {
  const id = printable(t.id);
  if (!t.found) return `nothing is known of ${id} (neither in memory nor in InfluxDB)`;
  const lines = [`trace of ${id} (from ${t.from}${t.root && t.root !== t.id ? `; the chain starts at reading ${printable(t.root)}` : ''})`];
  let previous: number | undefined;
  for (const s of t.steps) {
    const [label, text] = what(s).map(printable) as [string, string];
    lines.push(`  ${new Date(s.t).toISOString()}  ${(previous === undefined ? '' : gap(s.t - previous)).padStart(8)}  ${label.padEnd(18)} ${text}`);
    previous = s.t;
  }
  if (t.reused) lines.push(`  ${t.reused} stored readings carry the id ${printable(t.root ?? t.id)}: the device sent it again with other content (it reuses ids, e.g. its counter restarted)`);
  if (t.steps.length > 0 && t.steps.every((s) => s.step === 'reading')) lines.push(`  ${NOTHING_KEPT}`);
  return lines.join('\n');
}
