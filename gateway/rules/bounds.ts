import type { Logger } from 'pino';
import { evictionCounter, refusalCounter, type EvictingMap } from '../observability/evictions.js';
import type { Metrics } from '../observability/metrics.js';
import type { Scope } from './series.js';

/**
 * How much the rules remember at most. Far above a real building; what reaches a bound is a flood
 * of made-up ids (one credential that may publish for any device, or many credentials), or a
 * misconfigured fleet, and then:
 * - devices and zones (the latest values, the windows' series and the watched keys: held-for,
 *   absence, hysteresis): the one first seen is forgotten first, so memory stays bounded and the
 *   devices still speaking are remembered again with their next reading;
 * - actuators (what each was commanded, what it reported, the command waiting for it; targets
 *   `site/zone/actuator` come from readings' zones): the one idle longest is forgotten first, but
 *   never one whose command waits for its confirmation or that is within its minimum on/off time:
 *   when only those remain, the newcomer is refused (its command not sent, its report not kept);
 * - active alarms: none is ever dropped (cleared ones are kept apart, 1,000 at most); past the
 *   bound a new alarm is refused (not raised, not notified) until some clear;
 * - armed zones: the disarmed zone changed longest ago is forgotten (it reads disarmed anyway),
 *   an armed one never: when all are armed, a new arming is refused (armed-zones.ts).
 * Each forgotten or refused entry is counted and said (rules/service.ts).
 */
export interface RuleBounds {
  readonly devices: number;
  /** Zones of every site together (a site's keys count here too: a site has at least one zone). */
  readonly zones: number;
  /** Actuators (`site/zone/actuator`) of every site together. */
  readonly actuators: number;
  /** Alarms active at once. */
  readonly alarms: number;
  /** Zones with an armed state (armed-zones.ts, and DATA_DIR/armed-zones.json): as many as the live page shows. */
  readonly armedZones: number;
}

/** The bounds of what is remembered per device and zone. */
export type KeyBounds = Pick<RuleBounds, 'devices' | 'zones'>;

export const RULE_BOUNDS: RuleBounds = { devices: 100_000, zones: 100_000, actuators: 100_000, alarms: 100_000, armedZones: 10_000 };

/** What was forgotten: a device's latest values, a zone's, a window's series, a watched key, an actuator's state or its last report. */
export type Forgotten = 'device' | 'zone' | 'series' | 'watch' | 'actuator' | 'report' | 'armed_zone';

/** Each thing forgotten as its table in gateway_memory_evictions_total, and what forgetting it costs (GW_ERR_MEMORY_BOUND says it). */
export const FORGOTTEN_AS: Readonly<Record<Forgotten, readonly [EvictingMap, string]>> = {
  device: ['rule_devices', 'a device forgotten has no latest values until its next reading'],
  zone: ['rule_zones', "a zone forgotten leaves its site's tallies until a device there speaks again"],
  series: ['rule_series', 'a window forgotten starts over from its next reading'],
  watch: ['rule_watches', 'a held-for, absence or hysteresis forgotten starts over, its timer dropped'],
  actuator: ['rule_actuators', 'an actuator forgotten (the one idle longest) is sent its next command even if already in that state'],
  report: ['rule_actuator_reports', "an actuator's last report forgotten (the oldest) leaves its next command untracked until it reports again"],
  armed_zone: ['armed_zones', 'a disarmed zone forgotten (the one changed longest ago) still reads disarmed; GET /api/zones and DATA_DIR/armed-zones.json no longer list it; an armed zone is never forgotten'],
};

/** Told of each thing forgotten, with the bound that made it go (only past the bound: never on a reading's usual path). */
export type OnForget = (what: Forgotten, bound: number) => void;

/** What was refused because everything remembered still matters: an actuator, an actuator's report, a command's saga, an alarm. */
export type Refused = 'actuator' | 'report' | 'saga' | 'alarm' | 'armed_zone';

/** Each thing refused as its table in gateway_memory_refusals_total, and what refusing it costs (GW_ERR_MEMORY_FULL says it). */
export const REFUSED_AS: Readonly<Record<Refused, readonly [EvictingMap, string]>> = {
  actuator: ['rule_actuators', "every actuator remembered waits for a command's confirmation or is within its minimum on/off time: a command to a new one is not sent"],
  report: ['rule_actuator_reports', "every actuator's report remembered has a command waiting on it: a new actuator's report is not kept"],
  saga: ['rule_sagas', 'as many commands wait for their confirmation as actuators are remembered: a new one is sent but not tracked'],
  alarm: ['rule_alarms', 'that many alarms are active, none is dropped: a new one is not raised nor notified until some clear'],
  armed_zone: ['armed_zones', 'that many zones are armed, none is disarmed for room: arming a new zone is refused, it stays disarmed until some are disarmed'],
};

/** Told of each newcomer refused, with the bound that is full. */
export type OnRefuse = (what: Refused, bound: number) => void;

/** The bound of a per-key memory at a scope. */
export function boundOf(bounds: KeyBounds, scope: Scope): number {
  return scope === 'device' ? bounds.devices : bounds.zones;
}

/** What the rules forget or refuse past their bounds (here, or in a cluster's partition owners): counted, said once per table and burst. */
export function memoryReporter(metrics: Pick<Metrics, 'memoryEvictions' | 'memoryRefusals'>, log: Logger): { readonly forgot: OnForget; readonly refused: OnRefuse } {
  const evicted = evictionCounter(metrics, log);
  const refusals = refusalCounter(metrics, log);
  return {
    forgot: (what, bound) => evicted(FORGOTTEN_AS[what][0], bound, FORGOTTEN_AS[what][1]),
    refused: (what, bound) => refusals(REFUSED_AS[what][0], bound, REFUSED_AS[what][1]),
  };
}
