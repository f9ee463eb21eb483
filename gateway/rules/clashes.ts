import { judgeActuatorLinks } from './actuator-links.js';
import type { RulePack } from './pack.js';

/** What a pack claims for itself: its rule names and the actuators whose discipline it sets. */
const claims = (pack: RulePack): string[] => [...pack.rules.map((r) => `rule ${r.name}`), ...Object.keys(pack.actuators).map((a) => `actuator ${a}`)];

/** The first thing `pack` claims that `other` claims too. */
function shared(pack: RulePack, other: RulePack | undefined): string | undefined {
  if (!other) return undefined;
  const theirs = new Set(claims(other));
  return claims(pack).find((c) => theirs.has(c));
}

/** The problem of a pack whose claim `what` is `holder`'s. */
function problem(what: string, holder: RulePack): string {
  const [kind, name = ''] = what.split(/ (.*)/s);
  return kind === 'rule'
    ? `rule name ${JSON.stringify(name)} is already used in ${holder.file}; a rule name lives in one file`
    : `actuators.${name}: already set in ${holder.file}; an actuator's discipline lives in one file`;
}

/**
 * Which of the freshly read packs cannot come into force, and why. They are judged against the
 * new set as a whole, not against the old versions of files that changed with them, so that a
 * rule moved from one file to another in one change (a `git pull`) stays in force. What stays
 * in force whatever happens wins: unchanged files, and the last good version of a rejected file.
 * Between two changed files, the one that did not hold the name before gives way (if neither
 * did, the later file name). `inForce` has no clashes and neither has what this leaves; both
 * maps are by file name.
 */
export function judgeClashes(inForce: ReadonlyMap<string, RulePack>, fresh: ReadonlyMap<string, RulePack>): Map<string, string> {
  const rejected = new Map<string, string>();
  const kept = new Map([...inForce].filter(([name]) => !fresh.has(name)));
  const accepted = new Map([...fresh].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const reject = ([name, why]: readonly [string, string]): void => {
    accepted.delete(name);
    rejected.set(name, why);
    const old = inForce.get(name);
    if (old) kept.set(name, old); // Its last good version stays, and may in turn refuse another file.
  };
  for (;;) {
    const byKept = firstOf(accepted, (name, pack) =>
      firstOf(kept, (other, held) => {
        const what = other === name ? undefined : shared(pack, held);
        return what ? problem(what, held) : undefined;
      }),
    );
    if (byKept) {
      reject([byKept[0], byKept[1][1]]);
      continue;
    }
    const between = firstOf(accepted, (a, packA) =>
      firstOf(accepted, (b, packB): readonly [string, string] | undefined => {
        const what = b > a ? shared(packA, packB) : undefined;
        if (!what) return undefined;
        const heldByB = inForce.get(b);
        return heldByB && claims(heldByB).includes(what) ? [a, problem(what, packB)] : [b, problem(what, packA)];
      }),
    );
    if (!between) return rejected;
    reject(between[1][1]);
  }
}

/** The first entry (in map order) for which `f` says something, with what it said. */
function firstOf<V, R>(map: ReadonlyMap<string, V>, f: (key: string, value: V) => R | undefined): readonly [string, R] | undefined {
  for (const [key, value] of map) {
    const found = f(key, value);
    if (found !== undefined) return [key, found];
  }
  return undefined;
}

/**
 * Every check across files, on the freshly read packs against what is in force: clashes (a name
 * claimed twice), then actuator names (actuator-links.ts) on what the clashes leave. By file
 * name: the problems of each pack that cannot come into force.
 */
export function judgePackSet(inForce: ReadonlyMap<string, RulePack>, fresh: ReadonlyMap<string, RulePack>, incomplete = false): Map<string, readonly string[]> {
  const rejected = new Map<string, readonly string[]>([...judgeClashes(inForce, fresh)].map(([name, why]) => [name, [why]]));
  const left = new Map([...fresh].filter(([name]) => !rejected.has(name)));
  // A pack the clashes refused is judged as its last good version, if any, which stays in force.
  for (const [name, problems] of judgeActuatorLinks(inForce, left, incomplete)) rejected.set(name, problems);
  return rejected;
}
