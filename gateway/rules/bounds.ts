import type { EvictingMap } from '../observability/evictions.js';
import type { Scope } from './series.js';

/**
 * How many devices and zones the rules remember at most: the latest values, the windows' series
 * and the watched keys (held-for, absence, hysteresis) of each. Far above a real building; what
 * reaches it is a flood of made-up ids (one credential that may publish for any device, or many
 * credentials), and then the one first seen is forgotten first, so memory stays bounded and the
 * devices still speaking are remembered again with their next reading.
 */
export interface RuleBounds {
  readonly devices: number;
  /** Zones of every site together (a site's keys count here too: a site has at least one zone). */
  readonly zones: number;
}

export const RULE_BOUNDS: RuleBounds = { devices: 100_000, zones: 100_000 };

/** What was forgotten: a device's latest values, a zone's, a window's series, a watched key. */
export type Forgotten = 'device' | 'zone' | 'series' | 'watch';

/** Each thing forgotten as its table in gateway_memory_evictions_total, and what forgetting it costs (GW_ERR_MEMORY_BOUND says it). */
export const FORGOTTEN_AS: Readonly<Record<Forgotten, readonly [EvictingMap, string]>> = {
  device: ['rule_devices', 'a device forgotten has no latest values until its next reading'],
  zone: ['rule_zones', "a zone forgotten leaves its site's tallies until a device there speaks again"],
  series: ['rule_series', 'a window forgotten starts over from its next reading'],
  watch: ['rule_watches', 'a held-for, absence or hysteresis forgotten starts over, its timer dropped'],
};

/** Told of each thing forgotten, with the bound that made it go (only past the bound: never on a reading's usual path). */
export type OnForget = (what: Forgotten, bound: number) => void;

/** The bound of a per-key memory at a scope. */
export function boundOf(bounds: RuleBounds, scope: Scope): number {
  return scope === 'device' ? bounds.devices : bounds.zones;
}
