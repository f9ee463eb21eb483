/**
 * The registry of native devices the gateway has heard from (`GET /api/devices`): family, native
 * id, first and last seen, online, battery, the kinds it gave and the keys that map to none (with
 * counts, instead of a dead letter per message), one sample payload, its last problems, what its
 * actuators last reported, and discovery configs learnt or refused. Devices the map does not place
 * are listed as waiting for a zone. In memory: after a restart it starts with the placed devices
 * the stored history knows (DevicesService.seed) and fills again as devices report.
 */
import { BoundedMap } from '../core/bounded-map.js';
import type { OnEvicted } from '../observability/evictions.js';
import type { Placement } from './map.js';
import { ENTRY_BYTES, MAX_KEY_CHARS, MAX_TEXT_CHARS, REGISTRY_MAX_BYTES, RegistryBytes, SLOT_BYTES, cut, samplePayload, textBytes, type OnCut } from './registry-bounds.js';
import type { ActuatorState, Availability, Family } from './types.js';
import { viewOf, type PlacementsOf } from './registry-view.js';

const MAX_KEYS = 100;
const MAX_PROBLEMS = 5;
const noteBytes = (n: DiscoveryNote): number => ('refused' in n ? textBytes(n.refused) : textBytes(n.component) + textBytes(n.objectId) + 24);

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
  /** What it costs by estimate (registry-bounds.ts), counted in its registry's `ledger`. */
  bytes: number;
  readonly ledger: RegistryBytes;
}

export interface RegistryOptions {
  /** Told of each device forgotten to stay within the bounds (count or bytes). */
  readonly evicted?: OnEvicted;
  /** Told of each key name, value, text or sample cut to its bound. */
  readonly cut?: OnCut;
  readonly maxBytes?: number;
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

  private readonly ledger: RegistryBytes;

  constructor(max = 10_000, o: RegistryOptions = {}) {
    const cost = `a forgotten device is listed afresh from its next message, its counts starting over (${max} devices or ~${Math.round((o.maxBytes ?? REGISTRY_MAX_BYTES) / 1048576)} MiB)`;
    this.entries = new BoundedMap(max, (_key, e) => {
      this.ledger.gone(e);
      o.evicted?.('native_devices', max, cost);
    });
    // Past the bytes budget the oldest devices go, as past the count (not the one that grew).
    this.ledger = new RegistryBytes(o.maxBytes ?? REGISTRY_MAX_BYTES, (keep) => {
      for (const [key, e] of this.entries) {
        if (this.ledger.total <= this.ledger.budget) break;
        if (e === keep) continue;
        this.entries.delete(key);
        this.ledger.gone(e);
        o.evicted?.('native_devices', max, cost);
      }
    }, o.cut);
  }

  /** The registry's size by estimate, in bytes. */
  get bytes(): number {
    return this.ledger.total;
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
      e = { key, family, nativeId, firstSeen: now, lastSeen: now, online: null, onlineFromHistory: false, silentSince: undefined, battery: null, messages: 0, kinds: new Set(), unmapped: new Map(), sample: undefined, problems: [], actuators: new Map(), discovery: new Map(), offlineSince: undefined, back: undefined, bytes: 0, ledger: this.ledger };
      this.entries.set(key, e);
      this.ledger.add(e, ENTRY_BYTES + textBytes(key) + textBytes(nativeId));
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
    this.ledger.gone(old);
    const now = this.get(family, to);
    if (now) this.ledger.gone(now);
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
    // Counted afresh: the old name's bytes under the new name, and the new name's merged in (an estimate).
    e.bytes = 0;
    this.ledger.add(e, old.bytes + 2 * (textBytes(to) - textBytes(from)) + (now ? now.bytes - ENTRY_BYTES : 0));
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

  /** A key that maps to no kind, counted: its name cut to MAX_KEY_CHARS (names sharing that start count as one). */
  static unmapped(e: DeviceEntry, name: string): void {
    const key = cut(name, MAX_KEY_CHARS, e.ledger.onCut, 'key');
    const n = e.unmapped.get(key);
    if (n !== undefined) e.unmapped.set(key, n + 1);
    else if (e.unmapped.size < MAX_KEYS) {
      e.unmapped.set(key, 1);
      e.ledger.add(e, textBytes(key) + SLOT_BYTES);
    } else DeviceRegistry.problem(e, `more than ${MAX_KEYS} unmapped keys: the others are not listed`);
  }

  /** A discovery config of the device, learnt or refused: at most MAX_KEYS of them (a client may send any number), its texts cut. */
  static discovered(e: DeviceEntry, configTopic: string, note: DiscoveryNote): void {
    const c = (t: string): string => cut(t, MAX_TEXT_CHARS, e.ledger.onCut, 'value');
    const what: DiscoveryNote = 'refused' in note ? { refused: c(note.refused) } : { component: c(note.component), objectId: c(note.objectId), kind: note.kind };
    const before = e.discovery.get(configTopic);
    if (before === undefined && e.discovery.size >= MAX_KEYS) return DeviceRegistry.problem(e, `more than ${MAX_KEYS} discovery configs: the others are not listed`);
    e.discovery.set(configTopic, what);
    e.ledger.add(e, noteBytes(what) - (before ? noteBytes(before) : -(textBytes(configTopic) + SLOT_BYTES)));
  }

  /** A discovery config of the device gone (removed, or now another device's): its note and its bytes. */
  static undiscovered(e: DeviceEntry | undefined, configTopic: string): void {
    const before = e?.discovery.get(configTopic);
    if (!e || before === undefined) return;
    e.discovery.delete(configTopic);
    e.ledger.add(e, -(noteBytes(before) + textBytes(configTopic) + SLOT_BYTES));
  }

  static problem(e: DeviceEntry, said: string): void {
    const what = cut(said, MAX_TEXT_CHARS, e.ledger.onCut, 'text');
    if (e.problems[e.problems.length - 1] === what) return;
    e.problems.push(what);
    const gone = e.problems.length > MAX_PROBLEMS ? e.problems.shift() : undefined;
    e.ledger.add(e, textBytes(what) - (gone === undefined ? 0 : textBytes(gone)));
  }

  /** The device's last message, cut to ~SAMPLE_CHARS (registry-bounds.ts samplePayload). */
  static sample(e: DeviceEntry, topic: string, payload: Buffer, now: number): void {
    const before = e.sample;
    e.sample = { topic: cut(topic, MAX_TEXT_CHARS), payload: samplePayload(payload, e.ledger.onCut), time: now };
    e.ledger.add(e, textBytes(e.sample.topic) + textBytes(e.sample.payload) - (before ? textBytes(before.topic) + textBytes(before.payload) : 0));
  }

  all(): IterableIterator<DeviceEntry> {
    return this.entries.values();
  }

  /** Every device, waiting ones first, then by key (registry-view.ts). */
  view(placementsOf: PlacementsOf): DeviceView[] {
    return viewOf(this, placementsOf);
  }
}
