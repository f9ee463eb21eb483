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

/** Told of each thing forgotten, with the bound that made it go (only past the bound: never on a reading's usual path). */
export type OnForget = (what: Forgotten, bound: number) => void;

/** The bound of a per-key memory at a scope. */
export function boundOf(bounds: RuleBounds, scope: Scope): number {
  return scope === 'device' ? bounds.devices : bounds.zones;
}
