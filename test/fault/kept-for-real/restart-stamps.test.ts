/**
 * Issue 14, situation 3: readings without `ts` are stamped by the gateway. A QoS 1 burst from
 * one device, `kill -9`, a start on the same DATA_DIR, a second burst: every acknowledged
 * reading of both bursts must be in InfluxDB (different events never share a point).
 *
 * Written to fail on today's code: Series.stamp() gives each reading of a series the next free
 * millisecond (max(now, last + 1)), so a burst runs ahead of the clock; that memory is lost
 * with the process, and the next run stamps from the clock again, onto the same milliseconds.
 * The burst is sent with PUBLISH_RATE=0 so the stamps run well ahead of the restart time on
 * any machine (the issue saw it within the default rate and burst too).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { uniqueDb } from '../../helpers/influx.js';
import { marker, missingOf, storedIds } from '../../helpers/kept.js';
import { connect } from '../../helpers/mqtt.js';
import { spawnGateway } from '../../helpers/process.js';

const { defer, track } = useCleanup();
const BURST = 10_000;
const TOPIC = 'sensors/nots/z1/nots-1/temperature';

/** One device, `BURST` QoS 1 readings without ts, all in flight at once. Resolves with the ids acknowledged. */
async function burst(client: MqttClient, tag: string): Promise<string[]> {
  const acked: string[] = [];
  await Promise.all(
    Array.from({ length: BURST }, (_, i) => {
      const id = `${tag}-${i}`;
      return client.publishAsync(TOPIC, JSON.stringify({ value: 20 + (i % 7), id }), { qos: 1 }).then(() => void acked.push(id));
    }),
  );
  return acked;
}

describe('issue 14 (3): readings without ts across a kill -9', () => {
  it('keeps every acknowledged reading of a burst before and a burst after the restart', { timeout: 240_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-stamps-'));
    defer(() => rm(dataDir, { recursive: true, force: true }));
    const influx = inject('influxUrl');
    const db = uniqueDb();
    const env = { DATA_DIR: dataDir, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: 'rules', MQTT_PORT: '0', HTTP_PORT: '0', MQTT_WS_PORT: '0', PUBLISH_RATE: '0' };

    const first = track(spawnGateway(env));
    const before = await connect(`mqtt://127.0.0.1:${(await first.started()).mqtt}`, { clientId: 'nots-1' });
    const acked = await burst(before, 'run1');
    before.end(true);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    const second = track(spawnGateway(env));
    const after = await connect(`mqtt://127.0.0.1:${(await second.started()).mqtt}`, { clientId: 'nots-1' });
    defer(() => after.endAsync(true));
    acked.push(...(await burst(after, 'run2')));
    expect(acked).toHaveLength(2 * BURST);

    await marker(after, influx, db, 120_000);
    const stored = await storedIds(influx, db, 'temperature', `WHERE device = 'nots-1'`);
    expect(missingOf(acked, stored), 'acknowledged readings missing from InfluxDB').toEqual({ count: 0, first: [] });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
