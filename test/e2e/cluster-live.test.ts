/**
 * The live page and /api on any node show the whole cluster: a reading sent to A, the command
 * its owner made and a zone armed through B are on C's live state; /api/zones and /api/cluster
 * answer the same on every node.
 */
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../gateway/core/partition.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

interface LiveState {
  devices: { device: string; site: string; zone: string; readings: Record<string, { value: unknown }> }[];
  actuators: Record<string, { data: unknown }>;
  armed: Record<string, boolean>;
  events: { kind: string }[];
}

describe('a cluster\'s live page and API', () => {
  it('shows on every node what any node heard and what any owner decided', { timeout: 120_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('clive'), RULES_DIR: 'rules', LIVE_PUSH_MS: '50' };
    const nodes = await Promise.all(['A', 'B', 'C'].map((id) => startNode(id, env, track, defer)));
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    await settled(a, ['A', 'B', 'C']);

    const device = await mqtt.connectAsync(a.mqttUrl, { clientId: 't-1', reconnectPeriod: 0 });
    defer(() => device.endAsync());
    await device.publishAsync('sensors/hq/f1/t-1/temperature', JSON.stringify({ value: 31, ts: Date.now(), id: 'r1' }), { qos: 1 });
    const admin = await mqtt.connectAsync(b.mqttUrl, { clientId: 'ops', reconnectPeriod: 0 });
    defer(() => admin.endAsync());
    await admin.publishAsync('zones/hq/f2/armed', 'true', { qos: 1 });
    // Motion in the armed zone raises an alarm: its transition belongs to the feed like a command.
    await device.publishAsync('sensors/hq/f2/m-1/motion', JSON.stringify({ value: true, ts: Date.now(), id: 'm1' }), { qos: 1 });

    const state = await waitFor(async () => {
      const s = (await (await fetch(`${c.httpUrl}/live/state`)).json()) as LiveState;
      const seen = s.devices.some((d) => d.device === 't-1' && d.readings['temperature']?.value === 31) && s.actuators['hq/f1/hvac'] && s.armed['hq/f2'] === true;
      return seen ? s : undefined;
    }, 'the reading, the command and the armed zone on C\'s live page', 20_000);
    expect(state.actuators['hq/f1/hvac']).toMatchObject({ data: { mode: 'cool', setpoint: 22 } });

    // Cooled down at once: the off is held back by hvac's minimum on time (5 min). The owner counts
    // it and says so once, as a single gateway does (a cluster node did neither).
    await device.publishAsync('sensors/hq/f1/t-1/temperature', JSON.stringify({ value: 22, ts: Date.now(), id: 'r2' }), { qos: 1 });
    const deferred = async (): Promise<number> => {
      let sum = 0;
      for (const n of nodes) sum += Number(/^gateway_commands_deferred_total\{actuator="hvac"\} (\d+)/m.exec(await (await fetch(`${n.httpUrl}/metrics`)).text())?.[1] ?? 0);
      return sum;
    };
    await waitFor(async () => (await deferred()) >= 1, 'the held-back off counted on its owner');
    expect(nodes.flatMap((n) => n.proc.logs).filter((l) => String(l.msg).startsWith('hq/f1/hvac stays on until'))).toHaveLength(1);

    for (const n of [a, b, c]) {
      const zones = await waitFor(async () => {
        const z = (await (await fetch(`${n.httpUrl}/api/zones`)).json()) as { zones: { site: string; zone: string; armed: boolean }[] };
        return z.zones.length > 0 ? z : undefined;
      }, `/api/zones on ${n.id}`);
      expect(zones.zones).toEqual([{ site: 'hq', zone: 'f2', armed: true }]);
      const cluster = (await (await fetch(`${n.httpUrl}/api/cluster`)).json()) as { node: string; nodes: { id: string; http: number }[]; partitions: { owner: string }[] };
      expect(cluster.node).toBe(n.id);
      expect(cluster.nodes.map((x) => x.id).sort()).toEqual(['A', 'B', 'C']);
      expect(cluster.partitions).toHaveLength(TEST_PARTITIONS);
      // Which node rules a site, without working out the hash by hand.
      const hq = (await (await fetch(`${n.httpUrl}/api/cluster?site=hq`)).json()) as { site: { site: string; partition: number; owner: string | null }; partitions: { owner: string }[] };
      expect(hq.site).toEqual({ site: 'hq', partition: partitionOf('hq', TEST_PARTITIONS), owner: hq.partitions[partitionOf('hq', TEST_PARTITIONS)]!.owner });
      expect(['A', 'B', 'C']).toContain(hq.site.owner);
    }

    // A node started later sees what happened before it started.
    const d = await startNode('D', env, track, defer);
    const late = await waitFor(async () => {
      const s = (await (await fetch(`${d.httpUrl}/live/state`)).json()) as LiveState;
      return s.devices.some((x) => x.device === 't-1') && s.events.some((e) => e.kind === 'command') && s.armed['hq/f2'] === true ? s : undefined;
    }, 'the earlier reading, command and armed zone on a node started afterwards', 20_000);
    // Its feed has the alarm raised before it started, as the other nodes' feeds do (it had only commands, alerts and dead letters).
    const earlier = await waitFor(async () => {
      const s = (await (await fetch(`${a.httpUrl}/live/state`)).json()) as LiveState;
      return s.events.some((e) => e.kind === 'alarm') ? s : undefined;
    }, 'the alarm on A\'s live page');
    expect(late.events.filter((e) => e.kind === 'alarm').length).toBe(earlier.events.filter((e) => e.kind === 'alarm').length);
    expect(late.devices.find((x) => x.device === 't-1')).toMatchObject({ site: 'hq', zone: 'f1' });

    // /metrics shows the node, its partitions, their lag, Redis.
    const metrics = await (await fetch(`${b.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_cluster_node_info\{node="B"\} 1/);
    expect(metrics).toMatch(/gateway_cluster_redis_up 1/);
    expect(metrics).toMatch(/gateway_cluster_partitions_owned \d+/);
    expect(metrics).toMatch(/gateway_cluster_stream_lag_seconds\{partition="\d+"\} [\d.]+/);
  });
});
