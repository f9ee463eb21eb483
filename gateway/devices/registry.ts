/**
 * The registry of native devices the gateway has heard from (`GET /api/devices`): family, native
 * id, first and last seen, online, battery, the kinds it gave and the keys that map to none (with
 * counts, instead of a dead letter per message), one sample payload, its last problems, what its
 * actuators last reported, and discovery configs learnt or refused. Devices the map does not place
 * are listed as waiting for a zone. In memory: after a restart it starts with the placed devices
 * the stored history knows (DevicesService.seed) and fills again as devices report.
 */
import { BoundedMap } from '../core/bounded-map.js';
import type { Placement } from './map.js';
import type { ActuatorState, Availability, Family } from './types.js';

const MAX_KEYS = 100;
const MAX_PROBLEMS = 5;
const SAMPLE_CHARS = 1024;

export interface DeviceEntry {
  readonly key: string;
  readonly family: Family;
  readonly nativeId: string;
  firstSeen: number;
  lastSeen: number;
  /** From its own availability topic; null until it said (its bridge's word: DeviceRegistry.onlineOf). */
  online: boolean | null;
  /** `online` is what the stored history said (DevicesService.seed), not the device since this start. */
  onlineFromHistory: boolean;
  /** Since when the silence watch has called a device it places silent (OFFLINE_AFTER_MS); undefined while it talks. */
  silentSince: number | undefined;
  battery: number | null;
  messages: number;
  readonly kinds: Set<string>;
  readonly unmapped: Map<string, number>;
  sample: { topic: string; payload: string; time: number } | undefined;
  readonly problems: string[];
  readonly actuators: Map<string, ActuatorState>;
  readonly discovery: Map<string, DiscoveryNote>;
  /** Since when the gateway saw it go offline (its own availability, live since this start: not a retained or stored one); undefined while online. */
  offlineSince: number | undefined;
  /** When it last came back (restarted, rejoined, online after offline), and why. */
  back: { readonly at: number; readonly why: string } | undefined;
  /** Zigbee2MQTT: the base topic of the bridge it was last heard through (DeviceRegistry.baseOf). */
  bridgeBase?: string;
}

/**
 * How long after a device came back its actuators' reports are its power-on state, not a change
 * by hand (rules/differing-report.ts): the firmwares send it at once after connecting (Tasmota,
 * Shelly, ESPHome) or after the rejoin (Zigbee2MQTT), some twice (Tasmota RESULT and POWER<n>;
 * Zigbee2MQTT the device's own report and the bridge's read), the second maybe after the answer
 * to the command that put it back.
 */
export const CAME_BACK_WINDOW_MS = 30_000;

/** What the registry notes of one discovery config of a device. */
export type DiscoveryNote = { component: string; objectId: string; kind: string | null } | { refused: string };

export interface DeviceView {
  readonly key: string;
  readonly family: Family;
  readonly nativeId: string;
  readonly placements: readonly Placement[];
  readonly waiting: boolean;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly online: boolean | null;
  /** The silence watch calls a device it places silent (as the live page shows it), and since when. */
  readonly silent: boolean;
  readonly silentSince?: string;
  readonly battery: number | null;
  readonly messages: number;
  readonly kinds: readonly string[];
  readonly unmappedKeys: Readonly<Record<string, number>>;
  readonly sample?: { readonly topic: string; readonly payload: string; readonly time: string };
  readonly problems: readonly string[];
  readonly actuators: Readonly<Record<string, ActuatorState>>;
  readonly discovery?: Readonly<Record<string, unknown>>;
}

export class DeviceRegistry {
  private readonly entries: BoundedMap<string, DeviceEntry>;
  /** What each bridge (Zigbee2MQTT's `bridge/state`), by family and base topic, last said: offline, its devices are offline too. */
  private readonly bridges = new Map<string, boolean>();
  /** Whether a bridge's last `bridge/devices` listed a device (learnt.ts): its bridge before it speaks (set by the router). */
  listedUnder: ((base: string, name: string) => boolean) | undefined;

  constructor(max = 10_000) {
    this.entries = new BoundedMap(max);
  }

  /**
   * The base of the bridge a device is behind: the one it was heard through, else the one whose
   * bridge/devices lists it, else the family's only bridge; undefined when none says (several
   * bridges: one bridge's state never speaks for another's devices).
   */
  baseOf(e: Pick<DeviceEntry, 'family' | 'nativeId' | 'bridgeBase'>): string | undefined {
    if (e.bridgeBase !== undefined) return e.bridgeBase;
    const prefix = `${e.family}\u0000`;
    const bases = [...this.bridges.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    return bases.find((b) => this.listedUnder?.(b, e.nativeId) === true) ?? (bases.length === 1 ? bases[0] : undefined);
  }

  get size(): number {
    return this.entries.size;
  }

  bridgeSaid(family: Family, online: boolean, base = ''): void {
    this.bridges.set(`${family}\u0000${base}`, online);
  }

  bridgeOffline(family: Family, base: string | undefined): boolean {
    return base !== undefined && this.bridges.get(`${family}\u0000${base}`) === false;
  }

  /**
   * Whether a device is online: offline when it or its bridge says so; else its own word, and without
   * one (Zigbee2MQTT's availability is off by default) its bridge's, as Zigbee2MQTT's own Home
   * Assistant discovery makes `bridge/state` every device's availability (lib/extension/homeassistant.ts).
   */
  onlineOf(e: Pick<DeviceEntry, 'family' | 'nativeId' | 'online' | 'bridgeBase'>): boolean | null {
    const base = this.baseOf(e);
    const bridge = base === undefined ? undefined : this.bridges.get(`${e.family}\u0000${base}`);
    if (bridge === false) return false;
    return e.online ?? bridge ?? null;
  }

  get(family: Family, nativeId: string): DeviceEntry | undefined {
    return this.entries.get(`${family}:${nativeId}`);
  }

  /** The entry of a device just heard from (made on first sight). */
  seen(family: Family, nativeId: string, now: number): DeviceEntry {
    const key = `${family}:${nativeId}`;
    let e = this.entries.get(key);
    if (!e) {
      e = { key, family, nativeId, firstSeen: now, lastSeen: now, online: null, onlineFromHistory: false, silentSince: undefined, battery: null, messages: 0, kinds: new Set(), unmapped: new Map(), sample: undefined, problems: [], actuators: new Map(), discovery: new Map(), offlineSince: undefined, back: undefined };
      this.entries.set(key, e);
    }
    if (now > e.lastSeen) e.lastSeen = now;
    e.silentSince = undefined;
    return e;
  }

  /** The entry of a device known from something kept, not heard (a restored discovery config): its last seen and silence untouched. */
  known(family: Family, nativeId: string, now: number): DeviceEntry {
    return this.get(family, nativeId) ?? this.seen(family, nativeId, now);
  }

  /** A device renamed (Zigbee2MQTT): its entry is the new name's, with what the new name said already over it. */
  rename(family: Family, from: string, to: string): void {
    const old = this.get(family, from);
    if (!old) return;
    this.entries.delete(old.key);
    const now = this.get(family, to);
    const e: DeviceEntry = { ...old, key: `${family}:${to}`, nativeId: to };
    if (now) {
      e.lastSeen = Math.max(old.lastSeen, now.lastSeen);
      if (now.online !== null) [e.online, e.onlineFromHistory] = [now.online, now.onlineFromHistory];
      e.messages += now.messages;
      e.sample = now.sample ?? old.sample;
      for (const k of now.kinds) e.kinds.add(k);
      for (const [channel, state] of now.actuators) e.actuators.set(channel, state);
    }
    this.entries.set(e.key, e);
  }

  /**
   * A retained availability restored at start (a Tasmota LWT, a Shelly's `online`, a Zigbee2MQTT
   * device's `availability` or its bridge's `bridge/state`): the last word said, over what the
   * stored history seeded; not news (no status stored, no restart of the device or bridge). A
   * device's own word is not overridden by its bridge coming back (outcome.ts). Only a device
   * listed already (seeded) is told; whether it was.
   */
  retained(a: Availability): boolean {
    if (a.scope === 'bridge') {
      this.bridgeSaid(a.family, a.online, a.base);
      return true;
    }
    const e = this.get(a.family, a.nativeId);
    if (e) [e.online, e.onlineFromHistory] = [a.online, false];
    return e !== undefined;
  }

  static cameBack(e: DeviceEntry, now: number, why: string): void {
    e.back = { at: now, why };
  }

  /** Why a report now is the device's power-on state: it came back within CAME_BACK_WINDOW_MS; undefined if it did not. */
  static justBack(e: DeviceEntry, now: number): string | undefined {
    const b = e.back;
    return b && now - b.at <= CAME_BACK_WINDOW_MS ? b.why : undefined;
  }

  static unmapped(e: DeviceEntry, key: string): void {
    const n = e.unmapped.get(key);
    if (n !== undefined) e.unmapped.set(key, n + 1);
    else if (e.unmapped.size < MAX_KEYS) e.unmapped.set(key, 1);
    else DeviceRegistry.problem(e, `more than ${MAX_KEYS} unmapped keys: the others are not listed`);
  }

  /** A discovery config of the device, learnt or refused: at most MAX_KEYS of them (a client may send any number). */
  static discovered(e: DeviceEntry, configTopic: string, what: DiscoveryNote): void {
    if (e.discovery.has(configTopic) || e.discovery.size < MAX_KEYS) e.discovery.set(configTopic, what);
    else DeviceRegistry.problem(e, `more than ${MAX_KEYS} discovery configs: the others are not listed`);
  }

  static problem(e: DeviceEntry, what: string): void {
    if (e.problems[e.problems.length - 1] === what) return;
    e.problems.push(what);
    if (e.problems.length > MAX_PROBLEMS) e.problems.shift();
  }

  static sample(e: DeviceEntry, topic: string, payload: Buffer, now: number): void {
    const text = payload.subarray(0, SAMPLE_CHARS * 4).toString('utf8');
    e.sample = { topic, payload: text.length > SAMPLE_CHARS ? `${text.slice(0, SAMPLE_CHARS)}…` : text, time: now };
  }

  /**
   * An ESPHome node's own discovery configs (`<prefix>/<component>/<node>/<object>/config`) name
   * the device by its MAC: known only from them, that entry is the node's, listed with it.
   */
  private esphomeConfigs(): { folded: Set<DeviceEntry>; of: Map<string, [string, DiscoveryNote][]> } {
    const folded = new Set<DeviceEntry>();
    const of = new Map<string, [string, DiscoveryNote][]>();
    for (const e of this.entries.values()) {
      if (e.family !== 'homeassistant' || e.messages > 0 || e.discovery.size === 0) continue;
      const nodes = new Set([...e.discovery.keys()].map((topic) => topic.split('/').at(-3) ?? ''));
      const [node] = nodes;
      if (nodes.size !== 1 || node === undefined || !this.entries.has(`esphome:${node}`)) continue;
      folded.add(e);
      of.set(node, [...(of.get(node) ?? []), ...e.discovery]);
    }
    return { folded, of };
  }

  all(): IterableIterator<DeviceEntry> {
    return this.entries.values();
  }

  /** Every device, waiting ones first, then by key. */
  view(placementsOf: (family: Family, nativeId: string) => readonly Placement[] | undefined): DeviceView[] {
    const out: DeviceView[] = [];
    const nodeConfigs = this.esphomeConfigs();
    for (const e of this.entries.values()) {
      if (nodeConfigs.folded.has(e)) continue;
      const placements = placementsOf(e.family, e.nativeId) ?? [];
      out.push({
        key: e.key,
        family: e.family,
        nativeId: e.nativeId,
        placements,
        // Known only from discovery configs (its states decode as another family): not waiting itself.
        waiting: placements.length === 0 && e.messages > 0,
        firstSeen: new Date(e.firstSeen).toISOString(),
        lastSeen: new Date(e.lastSeen).toISOString(),
        online: this.onlineOf(e),
        silent: e.silentSince !== undefined,
        ...(e.silentSince === undefined ? {} : { silentSince: new Date(e.silentSince).toISOString() }),
        battery: e.battery,
        messages: e.messages,
        kinds: [...e.kinds].sort(),
        unmappedKeys: Object.fromEntries(e.unmapped),
        ...(e.sample ? { sample: { topic: e.sample.topic, payload: e.sample.payload, time: new Date(e.sample.time).toISOString() } } : {}),
        problems: [...e.problems],
        actuators: Object.fromEntries(e.actuators),
        ...(e.discovery.size > 0 || nodeConfigs.of.has(e.nativeId) ? { discovery: Object.fromEntries([...e.discovery, ...(e.family === 'esphome' ? (nodeConfigs.of.get(e.nativeId) ?? []) : [])]) } : {}),
      });
    }
    return out.sort((a, b) => Number(b.waiting) - Number(a.waiting) || a.key.localeCompare(b.key));
  }
}
