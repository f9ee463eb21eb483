import type { Scenario } from './scenario.js';
import { editDistance } from '../core/edit-distance.js';

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** The `count` names nearest to `name`: fewest edits, then the longest shared prefix (a rule's family). */
function nearestNames(name: string, names: readonly string[], count = 3): string[] {
  return names
    .map((n) => ({ n, d: editDistance(name, n), p: commonPrefix(name, n) }))
    .sort((a, b) => a.d - b.d || b.p - a.p)
    .slice(0, count)
    .map((x) => x.n);
}

/**
 * Expectations naming a rule that no loaded pack has: a typo in `expect` can only show up as a
 * mismatch, and in `expectNot` it passes forever. One problem each, with the nearest names.
 */
export function unknownRules(scenario: Scenario, loaded: readonly string[]): string[] {
  const known = new Set(loaded);
  return [...scenario.expect, ...scenario.expectNot]
    .filter((e) => e.rule !== undefined && !known.has(e.rule))
    .map((e) => {
      const near = nearestNames(e.rule!, loaded);
      return `${e.where.slice(scenario.where.length + 1)}: no loaded pack has a rule named ${JSON.stringify(e.rule)}${near.length > 0 ? `; nearest: ${near.join(', ')}` : ''}`;
    });
}
