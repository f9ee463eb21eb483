import type { DecidingFact } from '../core/events.js';
import { formatOffset } from '../rules/duration.js';
import type { Expectation } from './scenario.js';
import type { WhyCondition, WhyNot } from './why.js';

/** At most this many rules are judged in the report (an actuator many rules command). */
const SHOWN = 3;

/** A value as read in one line: strings quoted (they are compared as such), numbers to 2 decimals (a window's average). */
function show(v: unknown): string {
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Math.round(v * 100) / 100);
  return JSON.stringify(v) ?? String(v);
}

/** `window avg(co2, 5m)`, `heldFor(temperature greaterThan 26, 5m)`, `latest(kind illuminance, scope zone)`, `zone`. */
function factLabel(f: DecidingFact): string {
  const p = f.params ?? {};
  const scope = typeof p['scope'] === 'string' && p['scope'] !== 'zone' ? `, ${p['scope']}` : '';
  if (f.fact === 'window' && typeof p['agg'] === 'string') return `window ${p['agg']}(${String(p['kind'])}, ${String(p['within'])}${scope})`;
  if (f.fact === 'heldFor') return `heldFor(${String(p['kind'])} ${String(p['operator'])} ${show(p['value'])}, ${String(p['for'])}${scope})`;
  const entries = Object.entries(p);
  return entries.length > 0 ? `${f.fact}(${entries.map(([k, v]) => `${k} ${typeof v === 'string' ? v : show(v)}`).join(', ')})` : f.fact;
}

/** `window avg(co2, 5m) = 1066 — greaterThan 1500: false` */
function describeFact(f: DecidingFact): string {
  return `${factLabel(f)} = ${show(f.factResult)} — ${f.operator} ${show(f.value)}: ${f.result}`;
}

function describeCondition(c: WhyCondition): string {
  if (c.group === undefined && c.facts.length === 1) return describeFact(c.facts[0]!);
  const inner = c.facts.map(describeFact).join('; ');
  return `${c.group === 'not' ? 'not' : `${c.group ?? 'all'} of`} (${inner || 'not evaluated'}): ${c.result}`;
}

/**
 * One line per rule that could have met a missing expectation, e.g.
 * `simple-co2 did not fire at 2m00s: window avg(co2, 5m) = 1066 — greaterThan 1500: false; zone = "f2" — equal "f2": true`.
 */
export function describeWhy(e: Expectation, why: readonly WhyNot[]): string[] {
  if (e.type === 'deadletter') return [];
  if (why.length === 0) {
    const [site, zone, actuator] = e.target.split('/');
    const what = e.type === 'command' ? `commands ${actuator} in ${site}/${zone}` : `raises a ${zone} alert`;
    return [`no rule in force ${what}${e.rule ? ` as ${e.rule}` : ''}`];
  }
  // The rules that explain the miss first: a condition false on a reading, then no reading, then those whose conditions held.
  const rank = (w: WhyNot): number => (w.held ? 2 : w.reading ? 0 : 1);
  const ranked = [...why].sort((a, b) => rank(a) - rank(b));
  const lines = ranked.slice(0, SHOWN).map((w) => {
    const when = formatOffset(w.at);
    if (!w.reading) return `${w.rule} did not fire at ${when}: no ${w.wanted} up to then`;
    const on = w.reading.at !== w.at ? ` (last reading: ${w.reading.id} from ${w.reading.source} at ${formatOffset(w.reading.at)})` : '';
    const head = w.held ? `${w.rule}'s conditions held at ${when}${on}` : `${w.rule} did not fire at ${when}${on}`;
    return `${head}: ${w.join === 'any' ? 'any of: ' : ''}${w.conditions.map(describeCondition).join('; ')}`;
  });
  if (why.length > SHOWN) lines.push(`… and ${why.length - SHOWN} more rules`);
  return lines;
}
