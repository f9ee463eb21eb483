/**
 * For tests of "acknowledged means kept": QoS 1 publishing that records what was acknowledged,
 * and a marker that orders the check after everything before it. The spool is one journal,
 * drained in order, so once a marker published after some readings is in InfluxDB, those
 * readings have been handled (written, or lost): no sleeping to wait for "nothing more".
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { rows } from './influx.js';
import { waitFor } from './wait.js';

/** A reading id no other test uses. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Publishes a QoS 1 temperature reading on a device of its own (so its stamp can collide with
 * nothing) and waits until InfluxDB holds it. Returns its id.
 */
export async function marker(client: MqttClient, influxUrl: string, db: string, timeoutMs = 60_000): Promise<string> {
  const id = uniqueId('marker');
  // Not awaiting the acknowledgement on its own: a gateway that never acknowledges must fail
  // this wait (with its message), not hang the test.
  client.publish(`sensors/marker/z1/${id}/temperature`, JSON.stringify({ value: 1, id }), { qos: 1 }, () => undefined);
  await waitFor(async () => (await rows(influxUrl, db, `SELECT event_id FROM temperature WHERE event_id = '${id}'`)).length === 1, `the marker ${id} in InfluxDB`, timeoutMs, 100);
  return id;
}

/** Event ids stored in a measurement, with how many points carry each. */
export async function storedIds(influxUrl: string, db: string, measurement: string, where = ''): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const r of await rows(influxUrl, db, `SELECT event_id FROM "${measurement}" ${where}`)) {
    const id = String(r['event_id']);
    ids.set(id, (ids.get(id) ?? 0) + 1);
  }
  return ids;
}

/** Which of `ids` are not in `stored`; the first few and how many, for a readable failure. */
export function missingOf(ids: Iterable<string>, stored: ReadonlyMap<string, number> | ReadonlySet<string>): { count: number; first: string[] } {
  const missing = [...ids].filter((id) => !stored.has(id));
  return { count: missing.length, first: missing.slice(0, 5) };
}

/**
 * `devices` clients publishing `perDevice` QoS 1 readings each, with ids and distinct `ts`, all
 * at once (the client pipelines them). Resolves with the ids acknowledged.
 */
export async function publishQos1(clients: readonly MqttClient[], o: { site: string; kind?: string; perDevice: number; tsFrom: number; tag: string }): Promise<string[]> {
  const kind = o.kind ?? 'temperature';
  const acked: string[] = [];
  await Promise.all(
    clients.map(async (client, d) => {
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < o.perDevice; i++) {
        const id = `${o.tag}-d${d}-${i}`;
        const payload = JSON.stringify({ value: 20 + (i % 10), ts: o.tsFrom + i, seq: i, id });
        sends.push(client.publishAsync(`sensors/${o.site}/z1/dev${d}/${kind}`, payload, { qos: 1 }).then(() => acked.push(id)));
      }
      await Promise.all(sends);
    }),
  );
  return acked;
}
