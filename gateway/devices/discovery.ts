/**
 * What Home Assistant discovery configs taught the gateway: the entities by config topic, indexed
 * by the topics they read (state, availability), and ESPHome kinds learnt from the configs ESPHome
 * nodes announce (`device_class: temperature` for `f1-node/sensor/t/state`).
 */
import type { DiscoveredEntity } from './families/homeassistant.js';
import type { ContractKind } from './types.js';

const ESPHOME_STATE = /^(.+)\/(sensor|binary_sensor)\/([^/]+)\/state$/;
/** The most entities held; a config for one more is refused (and said: see the router). */
export const MAX_ENTITIES = 20_000;
/** The most bytes they take, estimated (entityBytes): 20,000 Zigbee2MQTT entities (~2.9 KB each) fit, ~3,000 at CONFIG_CAPS (~22 KB each). */
export const MAX_ENTITY_BYTES = 64 * 1024 * 1024;

/**
 * Who sent a config, for the shares: one native device's credential may hold SHARES.native of
 * the table (count and bytes), a bridge's SHARES.bridge (it speaks for a whole network); an admin
 * (Home Assistant itself, the simulator) only the whole table, as for retained budgets (and so an
 * anonymous client, unless its role is bridge: then all of them share one bridge's).
 */
export interface Sender {
  readonly key: string;
  readonly share: 'native' | 'bridge';
}
export const SHARES: Readonly<Record<Sender['share'], number>> = { native: 1 / 20, bridge: 1 / 2 };

export interface DiscoveryBounds {
  readonly maxEntities: number;
  readonly maxBytes: number;
}

/** What `learn` did: a new or changed entity, the same one again, or none: the table full (count or bytes), or the sender's share. */
export type Learnt = 'learnt' | 'same' | 'full' | 'share';

/** Memory one entity takes, estimated (RSS measured: ~2.3 KB for a small sensor's, ~22 KB for one at CONFIG_CAPS; index and registry note included): a fixed part, its strings, each source's compiled template. */
export function entityBytes(e: DiscoveredEntity): number {
  let n = 1500 + 2 * chars(e.configTopic, e.nativeId, e.nodeId, e.objectId, e.payloadOn, e.payloadOff);
  for (const s of [e.state, e.climate?.mode, e.climate?.setpoint, e.climate?.current, ...e.availability]) if (s) n += 250 + 2 * chars(s.topic, s.template);
  for (const a of e.availability) n += 2 * chars(a.payloadAvailable, a.payloadNotAvailable);
  for (const t of [e.commandTopic, e.climate?.modeCommandTopic, e.climate?.temperatureCommandTopic, e.stateOn, e.stateOff, e.unit, e.deviceClass, ...(e.climate?.modes ?? [])]) n += t === undefined ? 0 : 40 + 2 * t.length;
  return n;
}

function chars(...texts: (string | undefined)[]): number {
  return texts.reduce((n, t) => n + (t?.length ?? 0), 0);
}

interface Held {
  readonly seq: number;
  readonly bytes: number;
  readonly sender: string | undefined;
}

const NO_NODES: ReadonlyMap<string, number> = new Map();

/** The topics an entity reads. */
function topicsOf(e: DiscoveredEntity): string[] {
  const topics = [e.state?.topic, e.climate?.mode?.topic, e.climate?.setpoint?.topic, e.climate?.current?.topic, ...e.availability.map((a) => a.topic)];
  return [...new Set(topics.filter((t): t is string => t !== undefined))];
}

/**
 * The index is kept as configs come and go, one entity at a time: Home Assistant installations
 * publish thousands of retained configs at once, and rebuilding it per config was quadratic. Each
 * topic's readers are in the order their configs first came; an ESPHome state topic's kind is that
 * of the last of them that has one.
 */
export class Discovery {
  private readonly byConfig = new Map<string, DiscoveredEntity>();
  /** Readers by topic, in the order their configs first came (a Zigbee2MQTT bridge's availability topic has thousands). */
  private readonly byTopic = new Map<string, DiscoveredEntity[]>();
  /** Each held entity's config topic's place in the order configs first came (a changed config keeps it), its bytes and sender. */
  private readonly held = new Map<DiscoveredEntity, Held>();
  /** By sender (Sender.key): the entities and bytes its configs hold. */
  private readonly senders = new Map<string, { count: number; bytes: number }>();
  private totalBytes = 0;
  private readonly kinds: Record<string, Record<string, ContractKind>> = Object.create(null) as Record<string, Record<string, ContractKind>>;
  /** The unit each of those kinds is announced in (`°F`, `kW`): ESPHome's state topics carry only the number. */
  private readonly units: Record<string, Record<string, string>> = Object.create(null) as Record<string, Record<string, string>>;
  /** By device (the entity's native id): the node ids of the config topics that name it, each with its count ('' for none). */
  private readonly nodes = new Map<string, Map<string, number>>();
  private nextSeq = 0;
  /** Bumped on every change, so caches built on what was discovered know to start again. */
  version = 0;

  constructor(readonly bounds: DiscoveryBounds = { maxEntities: MAX_ENTITIES, maxBytes: MAX_ENTITY_BYTES }) {}

  get size(): number {
    return this.byConfig.size;
  }

  /** The bytes held, estimated (entityBytes). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** The most a sender of this share may hold. */
  shareOf(share: Sender['share']): DiscoveryBounds {
    return { maxEntities: Math.floor(this.bounds.maxEntities * SHARES[share]), maxBytes: Math.floor(this.bounds.maxBytes * SHARES[share]) };
  }

  /** Learns (or replaces) an entity; `from`: who sent its config, held to its share. */
  learn(entity: DiscoveredEntity, from?: Sender): Learnt {
    const before = this.byConfig.get(entity.configTopic);
    if (before && sameEntity(before, entity)) return 'same';
    const was = before && this.held.get(before);
    const bytes = entityBytes(entity);
    // What the replaced config held is freed first (the same sender's, or another's it takes over).
    if (this.byConfig.size + (before ? 0 : 1) > this.bounds.maxEntities || this.totalBytes - (was?.bytes ?? 0) + bytes > this.bounds.maxBytes) return 'full';
    if (from) {
      const mine = this.senders.get(from.key) ?? { count: 0, bytes: 0 };
      const freed = was?.sender === from.key ? was : undefined;
      const cap = this.shareOf(from.share);
      if (mine.count + (freed ? 0 : 1) > cap.maxEntities || mine.bytes - (freed?.bytes ?? 0) + bytes > cap.maxBytes) return 'share';
    }
    if (before) this.unindex(before);
    this.byConfig.set(entity.configTopic, entity);
    this.held.set(entity, { seq: was ? was.seq : this.nextSeq++, bytes, sender: from?.key });
    this.account(from?.key, 1, bytes);
    this.index(entity);
    this.version++;
    return 'learnt';
  }

  forget(configTopic: string): DiscoveredEntity | undefined {
    const entity = this.byConfig.get(configTopic);
    if (!entity) return undefined;
    this.byConfig.delete(configTopic);
    this.unindex(entity);
    this.version++;
    return entity;
  }

  private account(sender: string | undefined, count: number, bytes: number): void {
    this.totalBytes += bytes;
    if (sender === undefined) return;
    const mine = this.senders.get(sender) ?? { count: 0, bytes: 0 };
    mine.count += count;
    mine.bytes += bytes;
    if (mine.count === 0) this.senders.delete(sender);
    else this.senders.set(sender, mine);
  }

  /** The entities that read (state or availability) this topic. */
  readers(topic: string): readonly DiscoveredEntity[] {
    return this.byTopic.get(topic) ?? [];
  }

  entities(): IterableIterator<DiscoveredEntity> {
    return this.byConfig.values();
  }

  /** The node ids whose configs name this device ('' for configs without one): who announced it. */
  nodesNaming(nativeId: string): ReadonlyMap<string, number> {
    return this.nodes.get(nativeId) ?? NO_NODES;
  }

  /** `{ node: { 'sensor/<object id>': kind } }` for the decoders' `esphomeKinds`. */
  esphomeKinds(): Readonly<Record<string, Readonly<Record<string, ContractKind>>>> {
    return this.kinds;
  }

  /** `{ node: { 'sensor/<object id>': unit } }` for the decoders' `esphomeUnits`. */
  esphomeUnits(): Readonly<Record<string, Readonly<Record<string, string>>>> {
    return this.units;
  }

  private index(e: DiscoveredEntity): void {
    const seq = this.held.get(e)!.seq;
    for (const topic of topicsOf(e)) {
      let list = this.byTopic.get(topic);
      if (!list) this.byTopic.set(topic, (list = []));
      // A new config goes last: the scan only walks back past later ones when a changed config returns.
      let at = list.length;
      while (at > 0 && this.held.get(list[at - 1]!)!.seq > seq) at--;
      list.splice(at, 0, e);
    }
    let byNode = this.nodes.get(e.nativeId);
    if (!byNode) this.nodes.set(e.nativeId, (byNode = new Map<string, number>()));
    byNode.set(e.nodeId ?? '', (byNode.get(e.nodeId ?? '') ?? 0) + 1);
    this.settleKind(e);
  }

  private unindex(e: DiscoveredEntity): void {
    for (const topic of topicsOf(e)) {
      const list = this.byTopic.get(topic);
      const at = list?.indexOf(e) ?? -1;
      if (at >= 0) list!.splice(at, 1);
      if (list?.length === 0) this.byTopic.delete(topic);
    }
    const held = this.held.get(e);
    if (held) this.account(held.sender, -1, -held.bytes);
    this.held.delete(e);
    const byNode = this.nodes.get(e.nativeId);
    const left = (byNode?.get(e.nodeId ?? '') ?? 1) - 1;
    if (left > 0) byNode?.set(e.nodeId ?? '', left);
    else byNode?.delete(e.nodeId ?? '');
    if (byNode?.size === 0) this.nodes.delete(e.nativeId);
    this.settleKind(e);
  }

  /** The ESPHome kind of the entity's state topic, from the readers that have it as their state. */
  private settleKind(e: DiscoveredEntity): void {
    const m = e.state ? ESPHOME_STATE.exec(e.state.topic) : null;
    if (!m?.[1] || !m[2] || !m[3]) return;
    const [node, key] = [m[1], `${m[2]}/${m[3]}`];
    const state = e.state!.topic;
    const last = this.byTopic.get(state)?.findLast((x) => x.state?.topic === state && x.kind !== null);
    setOrDelete(this.units, node, key, last?.unit);
    setOrDelete(this.kinds, node, key, last?.kind ?? undefined);
  }
}

function setOrDelete<T>(table: Record<string, Record<string, T>>, node: string, key: string, value: T | undefined): void {
  if (value !== undefined) {
    (table[node] ??= Object.create(null) as Record<string, T>)[key] = value;
    return;
  }
  const byNode = table[node];
  if (!byNode) return;
  delete byNode[key];
  if (Object.keys(byNode).length === 0) delete table[node];
}

function sameEntity(a: DiscoveredEntity, b: DiscoveredEntity): boolean {
  const strip = (e: DiscoveredEntity) => JSON.stringify(e, (k, v: unknown) => (k === 'extract' ? undefined : v));
  return strip(a) === strip(b);
}
