/** What `GET /api/devices` lists of the registry's devices (DeviceRegistry.view). */
import type { Placement } from './map.js';
import type { DeviceEntry, DeviceRegistry, DeviceView, DiscoveryNote } from './registry.js';
import type { Family } from './types.js';

export type PlacementsOf = (family: Family, nativeId: string) => readonly Placement[] | undefined;

/**
 * An ESPHome node's own discovery configs (`<prefix>/<component>/<node>/<object>/config`) name
 * the device by its MAC: known only from them, that entry is the node's, listed with it.
 */
function esphomeConfigs(registry: DeviceRegistry): { folded: Set<DeviceEntry>; of: Map<string, [string, DiscoveryNote][]> } {
  const folded = new Set<DeviceEntry>();
  const of = new Map<string, [string, DiscoveryNote][]>();
  for (const e of registry.all()) {
    if (e.family !== 'homeassistant' || e.messages > 0 || e.discovery.size === 0) continue;
    const nodes = new Set([...e.discovery.keys()].map((topic) => topic.split('/').at(-3) ?? ''));
    const [node] = nodes;
    if (nodes.size !== 1 || node === undefined || !registry.get('esphome', node)) continue;
    folded.add(e);
    of.set(node, [...(of.get(node) ?? []), ...e.discovery]);
  }
  return { folded, of };
}

function viewOne(registry: DeviceRegistry, e: DeviceEntry, placements: readonly Placement[], nodeConfigs: ReturnType<typeof esphomeConfigs>): DeviceView {
  return {
    key: e.key,
    family: e.family,
    nativeId: e.nativeId,
    placements,
    // Known only from discovery configs (its states decode as another family): not waiting itself.
    waiting: placements.length === 0 && e.messages > 0,
    firstSeen: new Date(e.firstSeen).toISOString(),
    lastSeen: new Date(e.lastSeen).toISOString(),
    online: registry.onlineOf(e),
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
  };
}

/** Every device, waiting ones first, then by key. */
export function viewOf(registry: DeviceRegistry, placementsOf: PlacementsOf): DeviceView[] {
  const out: DeviceView[] = [];
  const nodeConfigs = esphomeConfigs(registry);
  for (const e of registry.all()) {
    if (nodeConfigs.folded.has(e)) continue;
    out.push(viewOne(registry, e, placementsOf(e.family, e.nativeId) ?? [], nodeConfigs));
  }
  return out.sort((a, b) => Number(b.waiting) - Number(a.waiting) || a.key.localeCompare(b.key));
}

/** `GET /api/devices` pages: `limit` devices (DEFAULT_LIMIT, at most MAX_LIMIT) and at most PAGE_BYTES by estimate. */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const PAGE_BYTES = 4 * 1024 * 1024;

/** What a page asks: after which device (the last page's `next`), how many, only the devices waiting for a zone. */
export interface PageAsk {
  readonly limit: number;
  readonly after?: string;
  readonly unassigned?: boolean;
}

export interface Page<V> {
  readonly devices: V[];
  /** How many devices the whole list (this filter's) holds. */
  readonly total: number;
  /** What to ask `after` for the next page; absent on the last. */
  readonly next?: string;
}

/**
 * The list's order, waiting devices first, then by key (code units): the cursor is a device's
 * place in it, `<0|1>:<key>`, so a page starts where the last ended whatever came or went meanwhile.
 */
const place = (waiting: boolean, key: string): string => `${waiting ? 0 : 1}:${key}`;
const byPlace = (a: { place: string }, b: { place: string }): number => (a.place < b.place ? -1 : a.place > b.place ? 1 : 0);

function cutPage<T extends { place: string }>(all: T[], ask: PageAsk, bytes: (t: T) => number): { items: T[]; total: number; next?: string } {
  const after = all.filter((t) => ask.after === undefined || t.place > ask.after).sort(byPlace);
  const items: T[] = [];
  let size = 0;
  for (const t of after) {
    if (items.length >= ask.limit || (items.length > 0 && size + bytes(t) > PAGE_BYTES)) break;
    items.push(t);
    size += bytes(t);
  }
  const last = items.at(-1);
  return { items, total: all.length, ...(last && items.length < after.length ? { next: last.place } : {}) };
}

/** One page of the registry's devices: only those are made views of (never the whole registry). */
export function pageOf(registry: DeviceRegistry, placementsOf: PlacementsOf, ask: PageAsk): Page<DeviceView> {
  const nodeConfigs = esphomeConfigs(registry);
  const all: { place: string; e: DeviceEntry; placements: readonly Placement[] }[] = [];
  for (const e of registry.all()) {
    if (nodeConfigs.folded.has(e)) continue;
    const placements = placementsOf(e.family, e.nativeId) ?? [];
    const waiting = placements.length === 0 && e.messages > 0;
    if (ask.unassigned && !waiting) continue;
    all.push({ place: place(waiting, e.key), e, placements });
  }
  const { items, total, next } = cutPage(all, ask, (t) => t.e.bytes);
  return { devices: items.map((t) => viewOne(registry, t.e, t.placements, nodeConfigs)), total, ...(next === undefined ? {} : { next }) };
}

/** One page of views already made (a cluster's, every node's merged). */
export function pageOfViews<V extends DeviceView>(views: readonly V[], ask: PageAsk): Page<V> {
  const all = views.filter((v) => !ask.unassigned || v.waiting).map((v) => ({ place: place(v.waiting, v.key), v }));
  const { items, total, next } = cutPage(all, ask, () => 0);
  return { devices: items.map((t) => t.v), total, ...(next === undefined ? {} : { next }) };
}
