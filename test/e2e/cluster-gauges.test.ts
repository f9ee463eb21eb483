/**
 * The rules' gauges on a cluster node (`gateway_alarms_active`, `gateway_commands_pending`,
 * `gateway_rule_timers`, `gateway_rule_window_series`) are the sums over the partitions the node
 * owns now: its partition owners' runtimes, not the single gateway's runtime, which a cluster node
 * does not feed. A partition handed to another node stops counting here and counts there.
 */
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf, partitionsFor } from '../../gateway/core/partition.js';
import { simulateActuator } from '../../simulators/actuators.js';
import { metric } from '../helpers/auth.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS, type ClusterNodeProcess } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

const GAUGES = ['gateway_alarms_active', 'gateway_commands_pending', 'gateway_rule_timers', 'gateway_rule_window_series'] as const;

async function gauges(node: ClusterNodeProcess): Promise<Record<(typeof GAUGES)[number], number>> {
  const values = await Promise.all(GAUGES.map((g) => metric(node.httpUrl, g)));
  return Object.fromEntries(GAUGES.map((g, i) => [g, values[i]!])) as Record<(typeof GAUGES)[number], number>;
}

describe('the rules\' gauges on a cluster node', () => {
  it('sum what the partitions the node owns hold, and stop counting a partition handed away', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    // Commands stay unconfirmed for the whole test (the actuator ignores them): their sagas wait.
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('cgauges'), RULES_DIR: 'rules', COMMAND_CONFIRM_MS: '600000' };
    const a = await startNode('A', env, track, defer);
    await settled(a, ['A']);
    // A site that A owns alone and that B takes once it joins.
    const site = ['hq', 'north', 'south', 'east', 'west', 'lab', 'depot', 'annex'].find((s) => partitionsFor('B', ['A', 'B'], TEST_PARTITIONS).includes(partitionOf(s, TEST_PARTITIONS)))!;

    const hvac = await simulateActuator({ url: a.mqttUrl, site, zone: 'f1', actuator: 'hvac', behaviour: { kind: 'ignore' } });
    defer(() => hvac.stop());
    await waitFor(async () => {
      const { actuators } = (await (await fetch(`${a.httpUrl}/api/actuators`)).json()) as { actuators: { site: string; zone: string; reported?: unknown }[] };
      return actuators.some((x) => x.site === site && x.zone === 'f1' && x.reported !== undefined);
    }, 'the HVAC\'s report in the shared state');

    const device = await mqtt.connectAsync(a.mqttUrl, { clientId: 'gauges-sensors', reconnectPeriod: 0 });
    defer(() => device.endAsync(true));
    const send = (topic: string, value: unknown, id: string) => device.publishAsync(topic, JSON.stringify({ value, ts: Date.now(), id }), { qos: 1 });
    // Above 26 °C (a held-for timer), above 28 °C (cool at once: a command its saga waits on), CO2 (a window), two smoke detectors (two alarms).
    await send(`sensors/${site}/f1/t-1/temperature`, 31, 'g-1');
    await send(`sensors/${site}/f1/c-1/co2`, 900, 'g-2');
    await send(`sensors/${site}/f2/s-1/smoke`, true, 'g-3');
    await send(`sensors/${site}/f2/s-2/smoke`, true, 'g-4');
    await waitFor(async () => {
      const { alarms } = (await (await fetch(`${a.httpUrl}/api/alarms`)).json()) as { alarms: unknown[] };
      return alarms.length === 2;
    }, 'two active alarms in /api/alarms', 20_000);
    await waitFor(() => hvac.received.length > 0, 'a command to the HVAC');

    // A owns every partition: its gauges are what its owners hold (the alarms are in the shared state, so its owner has them).
    const onA = await gauges(a);
    expect(onA.gateway_alarms_active).toBe(2);
    expect(onA.gateway_commands_pending).toBeGreaterThanOrEqual(1);
    expect(onA.gateway_rule_timers).toBeGreaterThanOrEqual(1);
    expect(onA.gateway_rule_window_series).toBeGreaterThanOrEqual(1);

    // B joins and takes the site's partition over (rebuilt from the shared state and the stream): it counts there, not on A.
    const b = await startNode('B', env, track, defer);
    await settled(a, ['A', 'B']);
    const onB = await waitFor(async () => {
      const g = await gauges(b);
      return g.gateway_alarms_active === 2 ? g : undefined;
    }, 'B to count the two alarms of the partition it took', 20_000);
    expect(onB.gateway_commands_pending).toBeGreaterThanOrEqual(1);
    expect(onB.gateway_rule_window_series).toBeGreaterThanOrEqual(1);
    const afterOnA = await waitFor(async () => {
      const g = await gauges(a);
      return g.gateway_alarms_active === 0 ? g : undefined;
    }, 'A to stop counting the partition it handed away', 20_000);
    expect(afterOnA).toEqual({ gateway_alarms_active: 0, gateway_commands_pending: 0, gateway_rule_timers: 0, gateway_rule_window_series: 0 });
  });
});
