/**
 * What bounded in-memory tables forget. Every per-device or per-address memory is a BoundedMap,
 * and an entry forgotten to stay within the bound changes what the gateway does (a fact used
 * before it is learnt again, a limit no longer applied to one address): each one is counted in
 * `gateway_memory_evictions_total{map}`, and the first of each burst is said (warn), since it
 * means the gateway serves more devices or addresses than the table was sized for, or a flood of
 * made-up ones: once per table while it lasts, again after a quiet minute (not per entry).
 */
import type { Logger } from 'pino';
import { logError, logWarn } from '../core/errors.js';
import type { Metrics } from './metrics.js';

/** The `map` label: one name a bounded table. */
export type EvictingMap =
  | 'shelly_light_modes'
  | 'shelly_outputs'
  | 'zigbee2mqtt_outputs'
  | 'zigbee2mqtt_json_seen'
  | 'zigbee2mqtt_keys'
  | 'zigbee2mqtt_forms'
  | 'tasmota_full_topics'
  | 'tasmota_layouts'
  | 'http_connections_per_address'
  // What the rules remember (rules/bounds.ts).
  | 'rule_devices'
  | 'rule_zones'
  | 'rule_series'
  | 'rule_watches'
  | 'rule_actuators'
  | 'rule_actuator_reports'
  | 'rule_sagas'
  | 'rule_alarms'
  | 'armed_zones'
  // The live page's tables (http/live.ts).
  | 'live_actuators'
  | 'live_armed'
  | 'live_reported'
  // The devices watched for silence (ingest/silence-bound.ts).
  | 'silence_watch'
  // A cluster's live relay (cluster/live-relay.ts): an interval's batch, and what Redis keeps for starting nodes.
  | 'live_relay_states'
  | 'live_relay_feed'
  | 'live_relay_kept'
  // Home Assistant discovery (devices/discovery-intake.ts): the entities' table (or a credential's share of it) full, a config over what one may hold.
  | 'discovery'
  | 'discovery_config'
  // The native devices listed on GET /api/devices (devices/registry.ts), and the texts cut in them (registry-bounds.ts).
  | 'native_devices'
  | 'native_device_texts';

/** A burst of evictions ends after this long without one: the next is said again. */
const QUIET_MS = 60_000;

/** Told of one entry forgotten: the table, its bound, and what forgetting costs (for the warning); `said`: what happened, when not the table full. */
export type OnEvicted = (map: EvictingMap, capacity: number, cost: string, said?: string) => void;

/** Each entry counted; the first of each burst said (a burst ends after QUIET_MS without one). */
function burstCounter(count: (map: EvictingMap) => void, say: OnEvicted, now: () => number): OnEvicted {
  const last = new Map<EvictingMap, number>();
  return (map, capacity, cost, said) => {
    count(map);
    const t = now();
    const before = last.get(map);
    last.set(map, t);
    if (before === undefined || t - before >= QUIET_MS) say(map, capacity, cost, said);
  };
}

export function evictionCounter(metrics: Pick<Metrics, 'memoryEvictions'>, log: Logger | undefined, now: () => number = Date.now): OnEvicted {
  return burstCounter(
    (map) => metrics.memoryEvictions.inc({ map }),
    (map, capacity, cost) => logWarn(log, 'GW_ERR_MEMORY_BOUND', { map, capacity }, `${map} is full (${capacity} entries): its oldest are forgotten from now on (${cost}); counted in gateway_memory_evictions_total, said once per burst`),
    now,
  );
}

/**
 * What bounded tables refuse: a table whose entries all still matter (an active alarm, a command
 * waiting for its confirmation) keeps them and turns the newcomer away instead. Each one counted
 * in `gateway_memory_refusals_total{map}`, the first of each burst said (error: something the
 * rules should do is not done), as evictions are.
 */
export function refusalCounter(metrics: Pick<Metrics, 'memoryRefusals'>, log: Logger | undefined, now: () => number = Date.now): OnEvicted {
  return burstCounter(
    (map) => metrics.memoryRefusals.inc({ map }),
    (map, capacity, cost, said) => logError(log, 'GW_ERR_MEMORY_FULL', { map, capacity }, `${map} ${said ?? `is full (${capacity} entries) of entries that must stay: newcomers are refused from now on`} (${cost}); counted in gateway_memory_refusals_total, said once per burst`),
    now,
  );
}

/**
 * What the device registry cuts to its bounds (devices/registry-bounds.ts): a key name, value,
 * text or sample past its length, cut with a marker. Each counted in
 * `gateway_memory_evictions_total{map="native_device_texts"}`, the first of each burst said (warn).
 */
export function cutCounter(metrics: Pick<Metrics, 'memoryEvictions'>, log: Logger | undefined, now: () => number = Date.now): (what: string) => void {
  const counted = burstCounter(
    (map) => metrics.memoryEvictions.inc({ map }),
    (map, _capacity, what) => logWarn(log, 'GW_ERR_MEMORY_BOUND', { map, what }, `${map}: a native device sent a ${what} past its bound (key names 100 characters, texts 1000, the sample 1024 and 64 a value): kept cut, with a marker (…); counted in gateway_memory_evictions_total, said once per burst`),
    now,
  );
  return (what) => counted('native_device_texts', 0, what);
}
