/**
 * Typos in the device map that load without an error and then do nothing: an actuator entry whose
 * name no rule commands (`hq/f5/hvca`), an entry one letter (or a letter's case) off the device
 * that speaks. Said at load (the log) and on the already-failing branch (a waiting device's dead letter).
 */
import type { Logger } from 'pino';
import { nearestName } from '../core/edit-distance.js';
import { logWarn } from '../core/errors.js';
import type { DeviceMap } from './map.js';
import type { Family } from './types.js';

/**
 * The map's entry (device or actuator) of `family` whose native id is a near miss of `nativeId`,
 * said as the map says it: the same id but for case, or (ids without digits: friendly names, not
 * the hex of sibling plugs `…A1B2C3`/`…A1B2C4`) an edit or two away.
 */
export function nearMissEntry(map: DeviceMap, family: Family, nativeId: string): string | undefined {
  // Asked for every message of a waiting device: once per device and map (a reload is a new map).
  let known = answered.get(map);
  if (!known) answered.set(map, (known = new Map<string, string | undefined>()));
  const key = `${family}:${nativeId}`;
  if (known.has(key)) return known.get(key);
  const answer = nearMiss(map, family, nativeId);
  if (known.size >= MAX_ANSWERED) known.clear();
  known.set(key, answer);
  return answer;
}

const answered = new WeakMap<DeviceMap, Map<string, string | undefined>>();
const MAX_ANSWERED = 10_000;

/** A map's ids of one family, as its entries say them, by lower case, and those without digits: built once per map. */
interface FamilyIds {
  readonly said: Map<string, string>;
  readonly byLower: Map<string, string>;
  readonly plain: string[];
}

const indexes = new WeakMap<DeviceMap, Map<Family, FamilyIds>>();

function idsOf(map: DeviceMap, family: Family): FamilyIds {
  let byFamily = indexes.get(map);
  if (!byFamily) indexes.set(map, (byFamily = new Map<Family, FamilyIds>()));
  let ids = byFamily.get(family);
  if (ids) return ids;
  const said = new Map<string, string>();
  for (const d of map.devices.values()) if (d.family === family) said.set(d.nativeId, `devices.${JSON.stringify(d.key)}`);
  for (const a of map.actuators.values()) if (a.family === family && !said.has(a.nativeId)) said.set(a.nativeId, `actuators.${JSON.stringify(a.target)} (${family}:${a.nativeId})`);
  const byLower = new Map<string, string>();
  for (const id of said.keys()) if (!byLower.has(id.toLowerCase())) byLower.set(id.toLowerCase(), id);
  byFamily.set(family, (ids = { said, byLower, plain: [...said.keys()].filter((id) => !/\d/.test(id)) }));
  return ids;
}

function nearMiss(map: DeviceMap, family: Family, nativeId: string): string | undefined {
  const ids = idsOf(map, family);
  const lower = nativeId.toLowerCase();
  const sameButCase = ids.byLower.get(lower);
  const near = sameButCase !== undefined && sameButCase !== nativeId ? sameButCase : /\d/.test(nativeId) ? undefined : nearestName(nativeId, ids.plain);
  if (near === undefined) return undefined;
  return `${ids.said.get(near)!}${near.toLowerCase() === lower ? ' (ids are case-sensitive)' : ''}`;
}

/** Why each actuator entry no rule commands does nothing, with the nearest name the rules command. */
export function uncommandedActuators(map: DeviceMap, commanded: ReadonlySet<string>): string[] {
  const known = [...commanded].sort().join(', ') || 'none';
  const out: string[] = [];
  for (const a of map.actuators.values()) {
    if (commanded.has(a.actuator)) continue;
    const near = nearestName(a.actuator, commanded);
    out.push(`actuators.${JSON.stringify(a.target)}: no rule commands an actuator named "${a.actuator}", so nothing is ever sent to ${a.family}:${a.nativeId}${near ? `; did you mean "${near}"?` : ''} (the rules command: ${known})`);
  }
  return out;
}

/** A heard device the map does not place. */
export interface Unplaced {
  readonly family: Family;
  readonly nativeId: string;
}

/**
 * Warns of the map's typos at each load of the map or the rules, each problem once until it goes
 * away: entries a letter off a heard device that waits for a zone, and (once the rules are known)
 * actuator entries no rule commands.
 */
export class MapTypoCheck {
  private commanded: ReadonlySet<string> | undefined;
  private said = new Set<string>();

  constructor(private readonly o: { log: Logger; map: () => DeviceMap; unplaced: () => Iterable<Unplaced> }) {}

  /** The actuator names the rules in force command. */
  rules(commanded: ReadonlySet<string>): void {
    this.commanded = commanded;
    this.check();
  }

  check(): void {
    const map = this.o.map();
    const problems: string[] = [];
    for (const u of this.o.unplaced()) {
      const near = nearMissEntry(map, u.family, u.nativeId);
      if (near) problems.push(`${near} is not ${u.family}:${u.nativeId}, which is heard and waits for a zone: correct that entry`);
    }
    if (this.commanded) problems.push(...uncommandedActuators(map, this.commanded));
    for (const p of problems) if (!this.said.has(p)) logWarn(this.o.log, 'GW_ERR_DEVICE_MAP', { file: map.file, problem: p }, `device map: ${p}`);
    this.said = new Set(problems);
  }
}
