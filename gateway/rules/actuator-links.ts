import { editDistance, nearestName } from '../core/edit-distance.js';
import type { RulePack } from './pack.js';

/** Each actuator the rules command, with the fields of the data they send it. */
export function commands(packs: Iterable<RulePack>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const p of packs) {
    for (const r of p.rules) {
      if (r.event.type !== 'command') continue;
      const fields = out.get(r.event.params.actuator) ?? new Set<string>();
      for (const f of Object.keys(r.event.params.data)) fields.add(f);
      out.set(r.event.params.actuator, fields);
    }
  }
  return out;
}

/** Each actuator with a discipline, and the pack that sets it (clashes.ts leaves one per actuator). */
function disciplines(packs: Iterable<RulePack>): Map<string, RulePack> {
  const out = new Map<string, RulePack>();
  for (const p of packs) for (const a of Object.keys(p.actuators)) out.set(a, p);
  return out;
}

/**
 * Two actuator names one of which is likely the other misspelt: an edit or two apart, fewer on
 * short names; numbered siblings (`fan`, `fan2`, `fan-3`) are different actuators.
 */
export function nearNames(a: string, b: string): boolean {
  if (a === b || siblings(a, b)) return false;
  const d = editDistance(a, b);
  return d <= Math.min(2, Math.max(1, Math.floor(Math.min(a.length, b.length) / 4)));
}

/** A name without its sibling marks: numbers (`fan2`), then a short last segment (`valve_a`), a capital (`pumpA`) or a plural `s` at the end. */
const stem = (name: string): string => name.replace(/[-_.]?\d+/g, '').replace(/(?:[-_.][A-Za-z0-9]{1,2}|[A-Z]|s)$/, '');

/** Numbered or lettered siblings and plurals (`fan`/`fan2`, `valve_a`/`valve_b`, `pumpA`/`pumpB`, `light`/`lights`): different actuators, not typos. */
function siblings(a: string, b: string): boolean {
  const [sa, sb] = [stem(a), stem(b)];
  return sa === sb || sa === b || a === sb;
}

const listed = (names: Iterable<string>): string => [...names].sort().join(', ') || 'no actuator';

/** Problems of an actuator's discipline against what the rules command: unused (a misspelt name), or an "off" no command can match. */
function disciplineProblem(name: string, pack: RulePack, commanded: ReadonlyMap<string, ReadonlySet<string>>): string | undefined {
  const fields = commanded.get(name);
  if (!fields) {
    const near = nearestName(name, commanded.keys());
    return `actuators.${name}: no rule commands an actuator named "${name}", so its minimum on/off time never applies${near ? `; did you mean "${near}"?` : ''} (the rules command: ${listed(commanded.keys())})`;
  }
  const off = pack.actuators[name]?.off;
  // "off" is matched field by field against the data last commanded: with no field in common, every command counts as on.
  if (off && !Object.keys(off).some((f) => fields.has(f))) return `actuators.${name}.off: ${JSON.stringify(off)} shares no field with the commands the rules send to ${name} (they set: ${listed(fields)}), so it never tells on from off`;
  return undefined;
}

/** Every actuator-name problem of one pack, against the whole set it would be in force with. */
function packProblems(pack: RulePack, commanded: ReadonlyMap<string, ReadonlySet<string>>, disciplined: ReadonlyMap<string, RulePack>, all: readonly RulePack[], incomplete: boolean): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(pack.actuators)) {
    const p = incomplete && !commanded.has(name) ? undefined : disciplineProblem(name, pack, commanded);
    if (p) problems.push(p);
  }
  // A command to an actuator without discipline whose name is near one with it (which is itself commanded: else the problem above says it).
  const nearDisciplined = (actuator: string): string | undefined => (disciplined.has(actuator) ? undefined : [...disciplined.keys()].find((d) => commanded.has(d) && nearNames(actuator, d)));
  pack.rules.forEach((r, i) => {
    if (r.event.type !== 'command') return;
    const { actuator } = r.event.params;
    const near = nearDisciplined(actuator);
    if (near) problems.push(`rules[${i}] (${r.name}).event.params.actuator: "${actuator}" has no minimum on/off time, but "${near}" (actuators.${near} in ${disciplined.get(near)!.file}) has one: did you mean "${near}"? (or is "${near}" the misspelt one?)`);
  });
  // The same, seen from this pack's discipline when the command is another pack's.
  for (const other of all) {
    if (other === pack) continue;
    for (const r of other.rules) {
      if (r.event.type !== 'command' || disciplined.get(nearDisciplined(r.event.params.actuator) ?? '') !== pack) continue;
      const near = nearDisciplined(r.event.params.actuator)!;
      problems.push(`actuators.${near}: rule ${r.name} in ${other.file} commands "${r.event.params.actuator}", which has no minimum on/off time though its name is near "${near}": one of the two is misspelt`);
    }
  }
  return problems;
}

/** Why a change is refused that would leave `held`'s discipline of `actuator` without effect. */
function keptProblem(actuator: string, held: RulePack, commanded: ReadonlyMap<string, ReadonlySet<string>>): string {
  const fields = commanded.get(actuator);
  const where = `actuators.${actuator} in ${held.file}`;
  return fields
    ? `the commands to "${actuator}" would share no field with its "off" (${JSON.stringify(held.actuators[actuator]?.off)}, ${where}; they would set: ${listed(fields)}): it would never tell on from off`
    : `no rule would command "${actuator}" any more, whose minimum on/off time ${where} sets: it would no longer apply (the rules would command: ${listed(commanded.keys())})`;
}

/**
 * Which of the freshly read packs (after clashes.ts) cannot come into force because an
 * actuator's minimum on/off time would silently not apply: set for a name no rule commands, a
 * command to a near name without one, an "off" that shares no field with the commands. Judged on
 * the set as it would be, as clashes are; a pack whose discipline stays in force while a changed
 * pack stops commanding its actuator refuses that change. Maps by file name, like judgeClashes.
 * `incomplete`: a pack of the directory could not be read, and has no version in force: it may be
 * what commands an actuator, so "no rule commands it" refuses nothing (the loader warns of it).
 */
export function judgeActuatorLinks(inForce: ReadonlyMap<string, RulePack>, fresh: ReadonlyMap<string, RulePack>, incomplete = false): Map<string, string[]> {
  const rejected = new Map<string, string[]>();
  const kept = new Map([...inForce].filter(([name]) => !fresh.has(name)));
  const accepted = new Map([...fresh].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  for (;;) {
    const all = [...kept.values(), ...accepted.values()];
    const commanded = commands(all);
    const disciplined = disciplines(all);
    let found: [string, string[]] | undefined;
    for (const [name, pack] of accepted) {
      const problems = packProblems(pack, commanded, disciplined, all, incomplete);
      if (problems.length > 0) {
        found = [name, problems];
        break;
      }
    }
    // A discipline that stays in force: the changed pack that commanded its actuator before gives way.
    for (const held of found ? [] : kept.values()) {
      for (const actuator of Object.keys(held.actuators)) {
        if (found || (incomplete && !commanded.has(actuator)) || !disciplineProblem(actuator, held, commanded)) continue;
        const changed = [...accepted.keys()].find((name) => {
          const before = inForce.get(name);
          return before !== undefined && commands([before]).has(actuator);
        });
        if (changed) found = [changed, [keptProblem(actuator, held, commanded)]];
      }
    }
    if (!found) return rejected;
    const [name, problems] = found;
    accepted.delete(name);
    rejected.set(name, problems);
    const old = inForce.get(name);
    if (old) kept.set(name, old);
  }
}

/**
 * Disciplines in force that no longer fit the commands: what a deleted pack (which cannot be
 * refused) leaves behind. One problem each, prefixed by the file that sets it.
 */
export function disciplinesAdrift(packs: readonly RulePack[]): string[] {
  const commanded = commands(packs);
  return packs.flatMap((p) => Object.keys(p.actuators).flatMap((a) => {
    const problem = disciplineProblem(a, p, commanded);
    return problem ? [`${p.file}: ${problem}`] : [];
  }));
}
