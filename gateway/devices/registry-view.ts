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
