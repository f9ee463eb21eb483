/**
 * A decoder's answer made into what ingest stores, through the map: readings placed at their
 * site/zone/device (per channel) as the kinds the map says, availability as the placed devices'
 * status, actuator reports as the mapped actuators' state; a device the map does not place waits
 * for a zone. The registry is kept up to date on the way.
 */
import type { ActuatorStates } from './actuator-states.js';
import type { NativeActuator } from './map.js';
import type { Placements } from './placement.js';
import type { PowerCutWatch } from './power-cut.js';
import { nearMissEntry } from './map-typos.js';
import { entriesNaming } from './rename.js';
import { DeviceRegistry, type DeviceEntry } from './registry.js';
import type { ActuatorState, Availability, DecodeResult, Decoded, Family, Scalar } from './types.js';

/** Families whose firmware says when it restarted (rules/differing-report.ts): their availability alone is not a restart. */
const SAYS_ITS_RESTART: ReadonlySet<string> = new Set(['tasmota', 'zigbee2mqtt']);

export interface PlacedReading {
  readonly site: string;
  readonly zone: string;
  readonly device: string;
  readonly kind: string;
  readonly value: Scalar;
  /** The native key it came from (`AM2301.Temperature`): part of its event id. */
  readonly key: string;
}

export interface PlacedStatus {
  readonly device: string;
  readonly online: boolean;
}

export interface PlacedActuator {
  readonly actuator: NativeActuator;
  /** What it reported, merged over what it reported before. */
  readonly state: ActuatorState;
  /** A report just after the device came back, or a state the firmware set at power-on: why (rules/differing-report.ts puts the last command back). */
  readonly cameBack?: string;
}

export type NativeOutcome =
  | { readonly outcome: 'not_mine' }
  /** Known traffic that is not a reading (bridge logs, INFO, discovery configs, availability of a device the map does not place). */
  | { readonly outcome: 'recognised'; readonly family: Family; readonly nativeId?: string; readonly what: string }
  /** A discovery config the gateway cannot use (an unsupported template): listed in the registry, not a dead letter. */
  | { readonly outcome: 'refused'; readonly family: Family; readonly nativeId?: string; readonly detail: string }
  | { readonly outcome: 'failure'; readonly family: Family; readonly nativeId?: string; readonly detail: string }
  | { readonly outcome: 'unassigned'; readonly family: Family; readonly nativeId: string; readonly detail: string }
  | {
      readonly outcome: 'placed';
      readonly family: Family;
      readonly nativeId: string;
      /** The firmware's own time, when it sent one that can be trusted. */
      readonly tsMs: number | undefined;
      readonly readings: readonly PlacedReading[];
      readonly statuses: readonly PlacedStatus[];
      readonly actuators: readonly PlacedActuator[];
      /** Values that could not be read while others could (`tasmota:x: AM2301.Temperature is "n/a", not a number`). */
      readonly problems: readonly string[];
    };

export interface PlaceEnv {
  readonly topic: string;
  readonly payload: Buffer;
  readonly now: number;
  readonly redrive: boolean;
  readonly placements: Placements;
  readonly registry: DeviceRegistry;
  readonly actuatorStates: ActuatorStates;
  /** A Zigbee2MQTT device's name before its last rename (learnt.ts): its dead letters' advice. */
  readonly learnt?: { formerName(name: string): string | undefined };
  /** After a power cut of the gateway's host: an actuator's first news is its device coming back (power-cut.ts). */
  readonly powerCut?: PowerCutWatch;
}

const NO_PROBLEMS: readonly string[] = [];

/** The Zigbee2MQTT decoder's name for its bridge's own traffic (`bridge/state`, `bridge/info`, …): the bridge is no device (its state: DeviceRegistry.bridgeSaid). */
const isBridge = (family: Family, nativeId: string | undefined): boolean => family === 'zigbee2mqtt' && nativeId === 'bridge';

export function decodePlaced(r: DecodeResult | Availability[], env: PlaceEnv): NativeOutcome {
  if (Array.isArray(r)) return availability(r, env);
  switch (r.outcome) {
    case 'not_mine':
      return r;
    case 'recognised':
      if (r.nativeId !== undefined && !env.redrive && r.family !== 'homeassistant' && !isBridge(r.family, r.nativeId)) {
        const e = env.registry.seen(r.family, r.nativeId, env.now);
        if (r.cameBack !== undefined) DeviceRegistry.cameBack(e, env.now, r.cameBack);
      }
      return { outcome: 'recognised', family: r.family, ...(r.nativeId === undefined ? {} : { nativeId: r.nativeId }), what: r.what };
    case 'failure':
      if (r.nativeId !== undefined && !env.redrive && !isBridge(r.family, r.nativeId)) DeviceRegistry.problem(env.registry.seen(r.family, r.nativeId, env.now), r.detail);
      return { outcome: 'failure', family: r.family, ...(r.nativeId === undefined ? {} : { nativeId: r.nativeId }), detail: r.detail };
    case 'availability':
      return availability([r], env);
    case 'decoded':
      return decoded(r, env);
  }
}

function availability(list: readonly Availability[], env: PlaceEnv): NativeOutcome {
  const first = list[0]!;
  if (env.redrive) return { outcome: 'recognised', family: first.family, nativeId: first.nativeId, what: 'availability' };
  const statuses: PlacedStatus[] = [];
  for (const a of list) {
    if (a.scope === 'bridge') {
      env.registry.bridgeSaid(a.family, a.online, a.base);
      // Its devices follow it (not another bridge's): offline with it, and back to what they last said of themselves.
      for (const e of env.registry.all()) {
        if (e.family !== a.family || e.nativeId === a.nativeId || env.registry.baseOf(e) !== (a.base ?? '')) continue;
        e.bridgeBase ??= a.base;
        // A stored offline is mostly the bridge's own will, published when the gateway last stopped: the bridge back, so are they.
        if (a.online && e.onlineFromHistory) [e.online, e.onlineFromHistory] = [true, false];
        for (const p of env.placements.placementsOf(e.family, e.nativeId) ?? []) statuses.push({ device: p.device, online: a.online && e.online !== false });
      }
      continue;
    }
    const own = env.registry.seen(a.family, a.nativeId, env.now);
    if (a.base !== undefined) own.bridgeBase = a.base;
    // Back after the gateway saw it go (not a retained or stored offline read at start, nor its bridge's): a restart or a
    // reconnect. Not for families that say a restart themselves (Tasmota INFO3, Zigbee2MQTT device_announce): there it is
    // a Wi-Fi or radio blip, and a change by hand just after it must stay a change by hand.
    if (a.online && own.offlineSince !== undefined && !SAYS_ITS_RESTART.has(a.family) && !env.registry.bridgeOffline(a.family, env.registry.baseOf(own))) DeviceRegistry.cameBack(own, env.now, `${a.family} availability online after offline`);
    own.offlineSince = a.online ? undefined : (own.offlineSince ?? env.now);
    [own.online, own.onlineFromHistory] = [a.online, false];
    for (const p of env.placements.placementsOf(a.family, a.nativeId) ?? []) statuses.push({ device: p.device, online: a.online && !env.registry.bridgeOffline(a.family, env.registry.baseOf(own)) });
  }
  if (statuses.length === 0) return { outcome: 'recognised', family: first.family, nativeId: first.nativeId, what: 'availability of a device waiting for a zone' };
  const seen = new Set<string>();
  const unique = statuses.filter((s) => !seen.has(s.device) && seen.add(s.device));
  return { outcome: 'placed', family: first.family, nativeId: first.nativeId, tsMs: undefined, readings: [], statuses: unique, actuators: [], problems: NO_PROBLEMS };
}

function decoded(d: Decoded, env: PlaceEnv): NativeOutcome {
  const { placements: map, registry, now } = env;
  const entry: DeviceEntry | undefined = env.redrive ? undefined : registry.seen(d.family, d.nativeId, now);
  if (entry && d.base !== undefined) entry.bridgeBase = d.base;
  if (entry) {
    entry.messages++;
    DeviceRegistry.sample(entry, env.topic, env.payload, now);
    for (const p of d.problems) DeviceRegistry.problem(entry, p);
    for (const k of d.otherKeys) DeviceRegistry.unmapped(entry, k);
  }
  const placements = map.placementsOf(d.family, d.nativeId);
  const device = map.device(d.family, d.nativeId);
  const readings: PlacedReading[] = [];
  const problems: string[] = d.problems.length > 0 ? [...d.problems] : [];
  const taken = new Set<string>();
  for (const r of d.readings) {
    const choice = map.kindOf(device, d.family, r);
    if (choice.kind === null) {
      if (choice.ignored) continue;
      if (choice.why !== undefined) problems.push(`${d.family}:${d.nativeId}: ${choice.why}`);
      else if (entry) DeviceRegistry.unmapped(entry, r.key);
      continue;
    }
    if (entry) {
      entry.kinds.add(choice.kind);
      if (choice.kind === 'battery' && typeof choice.value === 'number') entry.battery = choice.value;
    }
    if (!placements) continue;
    const p = map.placementFor(placements, r.channel);
    const where = p ? `${p.site}/${p.zone}/${p.device}/${choice.kind}` : '';
    if (!p || taken.has(where)) {
      // A second source of one kind for one device: its channel needs its own placement.
      if (entry) DeviceRegistry.unmapped(entry, `${r.key} (channel ${r.channel ?? '?'}: no placement)`);
      continue;
    }
    taken.add(where);
    readings.push({ site: p.site, zone: p.zone, device: p.device, kind: choice.kind, value: choice.value, key: r.key });
  }
  for (const a of d.actuators) if (entry) entry.actuators.set(a.channel ?? '', a.state);
  if (!placements) {
    const anything = d.readings.length > 0 || d.actuators.length > 0;
    // A redriven letter of a device still unplaced still waits: a failure the redrive counts, not a message with nothing in it.
    if (!anything) return { outcome: 'recognised', family: d.family, nativeId: d.nativeId, what: 'nothing to store' };
    return { outcome: 'unassigned', family: d.family, nativeId: d.nativeId, detail: waitingAdvice(d, map, env.learnt) };
  }
  const actuators: PlacedActuator[] = [];
  if (!env.redrive) {
    for (const a of d.actuators) {
      const acts = map.actuatorsFor(d.family, d.nativeId, a.channel);
      // Kept by device and channel (actuator-states.ts): the entries found here share one.
      const { before, state } = acts[0] ? env.actuatorStates.merge(acts[0], a.state) : { before: undefined, state: { ...a.state } };
      for (const act of acts) {
        // Only in the window after a power cut of the host: not a comparison for every report.
        if (entry && env.powerCut?.active) env.powerCut.reported(entry, act.target, JSON.stringify(state) !== JSON.stringify(before), now);
        const cameBack = a.cameBack ?? (entry && !a.notAtPowerOn ? DeviceRegistry.justBack(entry, now) : undefined);
        actuators.push(cameBack === undefined ? { actuator: act, state } : { actuator: act, state, cameBack });
      }
    }
  }
  const tsMs = d.ts === undefined ? undefined : Date.parse(d.ts);
  return { outcome: 'placed', family: d.family, nativeId: d.nativeId, tsMs, readings, statuses: [], actuators, problems };
}

/**
 * What a waiting device's dead letters advise. `devices assign` places a device; it does not
 * change an `actuators:` entry, which is what commands an actuator (and places it too): a device
 * renamed since an entry named it, or one that reports as an actuator, is told so.
 */
function waitingAdvice(d: Decoded, map: Placements, learnt: PlaceEnv['learnt']): string {
  const key = `${d.family}:${d.nativeId}`;
  // An entry a letter (or a letter's case) off this id is a typo that places nothing: say which (only here, where the message already fails).
  const near = nearMissEntry(map.map, d.family, d.nativeId);
  const head = `${key} is waiting for a zone${near ? ` (the device map has ${near}, not ${key}: correct that entry)` : ''}`;
  const kept = 'its readings are kept here';
  const former = d.family === 'zigbee2mqtt' ? learnt?.formerName(d.nativeId) : undefined;
  const naming = former === undefined ? [] : entriesNaming(map.map, d.family, former);
  if (naming.length > 0) return `${head}: it was ${d.family}:${former ?? ''} before a rename in Zigbee2MQTT, and the device map still names that (${naming.join(', ')}): make those entries name ${key} in DEVICES_FILE (devices assign does not change an actuators: entry); ${kept}`;
  const assign = `place it in the device map (npm run devices -- assign ${key} --site S --zone Z)`;
  if (d.actuators.length === 0) return `${head}: ${assign}; ${kept}`;
  return `${head}: it reports as an actuator: to command it, name it under actuators: in DEVICES_FILE (<site>/<zone>/<actuator>: ${key}, which places it too), or, if an actuators: entry names it by a former name, make that entry name ${key}; to store its readings only, ${assign}; ${kept}`;
}
