/**
 * What became of every input, from the gateway's own bus: a stored reading (current or
 * history), a device status, a zone state, or a dead letter with its reason. From the events it
 * also works out how many points each InfluxDB measurement must hold: readings with the same
 * series and time are one point (InfluxDB's idempotent overwrite, on purpose); events the gateway
 * times itself (status, zone state, dead letters) are each their own point (the store stamps them).
 */
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
    gateway.bus.on('reading', (e) => keep(e.kind, `${e.site}|${e.zone}|${e.device}|${e.timeMs}`));
    gateway.bus.on('history', (e) => keep(e.kind, `${e.site}|${e.zone}|${e.device}|${e.timeMs}`));
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
