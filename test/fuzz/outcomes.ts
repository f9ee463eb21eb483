/**
 * What became of every input, from the gateway's own bus: a stored reading (current or
 * history), a device status, a zone state, or a dead letter with its reason. From the events it
 * also works out how many points each InfluxDB measurement must hold: every event is its own point
 * (the store keeps two events of one series in one millisecond apart, issue 14), and a resend of
 * the same event is a duplicate that is never announced.
 */
import type { ReadingEvent } from '../../gateway/core/events.js';
import type { Gateway } from '../../gateway/gateway.js';
import { query } from '../helpers/influx.js';

export class Outcomes {
  /** Events seen; each input yields at most one (none only for a recognised duplicate). */
  count = 0;
  readonly reasons = new Map<string, number>();
  private readonly points = new Map<string, Set<string>>();

  constructor(gateway: Gateway) {
    const keep = (measurement: string, key: string): void => {
      this.count++;
      let set = this.points.get(measurement);
      if (!set) this.points.set(measurement, (set = new Set()));
      set.add(key);
    };
    // Every reading announced is a different event (a resend with the same id and content is a
    // duplicate, never announced): the store gives each its own point (issue 14's point identity).
    const reading = (e: ReadingEvent): void => keep(e.kind, `${e.site}|${e.zone}|${e.device}|${e.id}|${e.numeric}|${e.timeMs}`);
    gateway.bus.on('reading', reading);
    gateway.bus.on('history', reading);
    gateway.bus.on('deviceStatus', (e) => keep('device_status', e.id));
    gateway.bus.on('zoneArmed', (e) => keep('zone_state', e.id));
    gateway.bus.on('actuatorState', (e) => keep('actuator_state', e.id));
    gateway.bus.on('deadletter', (e) => {
      this.reasons.set(e.reason, (this.reasons.get(e.reason) ?? 0) + 1);
      keep('deadletters', e.id);
    });
  }

  /** Points each measurement must hold. */
  expected(): Record<string, number> {
    return Object.fromEntries([...this.points].map(([m, keys]) => [m, keys.size]).sort());
  }
}

/** Points per measurement in a database, counted by InfluxDB. */
export async function storedPoints(influxUrl: string, db: string): Promise<Record<string, number>> {
  const series = await query(influxUrl, db, 'SELECT count(event_id) FROM /.*/');
  return Object.fromEntries(series.map((s) => [s.name, Number(s.values[0]?.[1] ?? 0)]).sort());
}

export async function counterValue(gateway: Gateway, name: string): Promise<number> {
  const metric = gateway.metrics.registry.getSingleMetric(name);
  const data = await metric?.get();
  return (data?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}
