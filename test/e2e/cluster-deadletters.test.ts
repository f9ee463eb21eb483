/**
 * Dead letters taken by two cluster nodes at once. The `deadletters` series is keyed by its
 * `reason` alone (DESIGN.md), and each node places its points by its own memory of the series: two
 * nodes' first dead letters of one millisecond both took that exact millisecond, one point, and the
 * later write replaced the earlier, acknowledged (QoS 1) one. An outside tester lost 14 of 4,000
 * this way, silently. Every acknowledged dead letter must be stored.
 *
 * Real processes: two nodes on a test Redis and the test InfluxDB; real MQTT clients. (Whether the
 * old code collides depends on the two nodes meeting in a millisecond: at this volume it did in
 * every run tried; the unit test in test/unit/storage/event-store.test.ts holds the rule exactly.)
 */
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, type ClusterNodeProcess } from '../helpers/cluster.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const PER_NODE = 1500;

async function deadLetters(node: ClusterNodeProcess, tag: string): Promise<void> {
  const c = await mqtt.connectAsync(node.mqttUrl, { clientId: `bad-${tag}`, reconnectPeriod: 0 });
  defer(() => c.endAsync(true));
  // Not a reading (a string where the value goes): a dead letter, acknowledged once it is kept.
  const sent = Array.from({ length: PER_NODE }, (_, i) => c.publishAsync(`sensors/hq/f1/bad${tag}/temperature`, JSON.stringify({ value: 'x', marker: `${tag}-${i}` }), { qos: 1 }));
  await Promise.all(sent);
}

describe('dead letters on two cluster nodes at once', () => {
  it('are all stored: none replaces another taken by the other node in the same millisecond', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const influx = inject('influxUrl');
    const db = uniqueDb('cluster_dl');
    const env = { REDIS_URL: redis.url, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: 'rules' };
    const [a, b] = (await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)))) as [ClusterNodeProcess, ClusterNodeProcess];
    await settled(a, ['A', 'B']);
    await Promise.all([deadLetters(a, 'A'), deadLetters(b, 'B')]);
    const stored = async (tag: string): Promise<number> => {
      const r = await rows(influx, db, `SELECT count("payload") FROM "deadletters" WHERE "payload" =~ /bad${tag}/ OR "topic" =~ /bad${tag}/`);
      return Number(r[0]?.['count'] ?? 0);
    };
    // Wait for both nodes' sinks, then count what InfluxDB holds.
    const counts = await waitFor(
      async () => {
        const [na, nb] = [await stored('A'), await stored('B')];
        return na >= PER_NODE && nb >= PER_NODE ? [na, nb] : undefined;
      },
      'every acknowledged dead letter in InfluxDB',
      30_000,
      250,
    ).catch(async () => [await stored('A'), await stored('B')]);
    expect(counts).toEqual([PER_NODE, PER_NODE]);
  });
});
