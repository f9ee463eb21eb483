import type { ReadingEvent } from '../events.js';
import { OPERATOR_NAMES, evaluateOperator } from './operators.js';
import type { RuleDefinition } from './pack.js';

/** A cheap check a reading must pass for a rule to be able to fire. */
export type Guard = (r: ReadingEvent) => boolean;

/** Facts read straight off the reading: no state, no time, no promise. */
const READING: Readonly<Record<string, (r: ReadingEvent) => unknown>> = {
  value: (r) => r.value,
  kind: (r) => r.kind,
  site: (r) => r.site,
  zone: (r) => r.zone,
  device: (r) => r.device,
};

/**
 * The part of a rule's top-level `all` that only reads the reading (`value`, `kind`, `site`,
 * `zone`, `device` compared with a literal), as one function. A reading that fails it cannot
 * fire the rule, so the rule is not run for it: most readings (a temperature inside the band)
 * then skip json-rules-engine, whose run costs promises, an almanac and a copy of the
 * conditions per rule. The comparison is the engine's own (`evaluateOperator`), and anything
 * it cannot judge (any/not, facts with params or paths, fact references) leaves the rule to
 * the engine. Undefined when the rule has no such condition.
 */
export function guardOf(rule: Pick<RuleDefinition, 'conditions'>): Guard | undefined {
  const all = (rule.conditions as { all?: unknown }).all;
  if (!Array.isArray(all)) return undefined;
  const checks: Guard[] = [];
  for (const c of all as Record<string, unknown>[]) {
    if (typeof c !== 'object' || c === null) continue;
    const { fact, operator, value } = c;
    const read = typeof fact === 'string' ? READING[fact] : undefined;
    if (!read || typeof operator !== 'string' || !OPERATOR_NAMES.includes(operator)) continue;
    if (c['path'] !== undefined || c['params'] !== undefined) continue;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) continue; // {"fact": …}: another fact
    // The engine's in/notIn use value.indexOf: on a string that is a substring test; leave those to it.
    if ((operator === 'in' || operator === 'notIn') && !Array.isArray(value)) continue;
    checks.push((r) => evaluateOperator(operator, read(r), value));
  }
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (r) => checks.every((check) => check(r));
}
