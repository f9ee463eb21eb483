/**
 * deploy/haproxy.cfg, the cluster compose file's load balancer, in front of two real gateway
 * nodes (Debian's haproxy; no Docker here). Devices and actuators know only HAProxy's address: a
 * reading through it commands an actuator through it, whichever nodes each lands on; when the
 * device's node is SIGKILLed, the clients reconnect through HAProxy to the survivor, which
 * takes the readings and commands on, and the HTTP frontend keeps answering.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, type ClusterNodeProcess } from '../helpers/cluster.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { uniqueDb } from '../helpers/influx.js';
import { scrape } from '../helpers/prometheus.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

/** The nodes a client id is connected to, by each node's own count of its clients before and after. */
async function clientsOn(nodes: readonly ClusterNodeProcess[]): Promise<number[]> {
  return Promise.all(nodes.map(async (n) => (await scrape(n.httpUrl)).value('gateway_connected_clients')));
}

describe('the cluster behind deploy/haproxy.cfg', () => {
  it('routes devices, actuators and HTTP to the nodes, and to the survivor once one is killed', { timeout: 120_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('haproxy'), RULES_DIR: 'rules', MQTT_HEARTBEAT_MS: '500' };
    const nodes = await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)));
    await settled(nodes[0]!, ['A', 'B']);
    const haproxy = await startHaproxy(nodes.map((n) => n.ports));
    defer(() => haproxy.stop());
    const url = `mqtt://127.0.0.1:${haproxy.ports.mqtt}`;
    const httpUrl = `http://127.0.0.1:${haproxy.ports.http}`;
    expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
    expect(((await (await fetch(`${httpUrl}/api/cluster`)).json()) as { nodes: unknown[] }).nodes).toHaveLength(2);

    // The actuator subscribes again on every connection (a clean session), as firmware does.
    const commands: string[] = [];
    const actuator = mqtt.connect(url, { clientId: 'hvac-ha', reconnectPeriod: 300 });
    defer(() => actuator.endAsync(true));
    actuator.on('connect', () => void actuator.subscribeAsync('commands/hq/+/hvac', { qos: 1 }).catch(() => undefined));
    actuator.on('message', (topic, payload) => commands.push(`${topic} ${(JSON.parse(payload.toString()) as { correlationid: string }).correlationid}`));
    await waitFor(() => actuator.connected, 'the actuator connected through HAProxy');

    const before = await clientsOn(nodes);
    const device: MqttClient = await mqtt.connectAsync(url, { clientId: 'sensor-ha', reconnectPeriod: 300 });
    defer(() => device.endAsync(true));
    const after = await waitFor(async () => {
      const now = await clientsOn(nodes);
      return now.some((c, i) => c === before[i]! + 1) ? now : undefined;
    }, 'the device counted by one node');
    const home = after.findIndex((c, i) => c === before[i]! + 1);
    const survivor = nodes[1 - home]!;

    await device.publishAsync('sensors/hq/h1/t-ha/temperature', JSON.stringify({ value: 31, ts: Date.now(), id: 'ha-1' }), { qos: 1 });
    await waitFor(() => commands.includes('commands/hq/h1/hvac ha-1'), 'the command through HAProxy');

    // The device's node dies: HAProxy's checks (every 2 s, down after 2 failures) or its
    // redispatch send the reconnections to the survivor.
    nodes[home]!.proc.child.kill('SIGKILL');
    await nodes[home]!.proc.exited;
    await waitFor(() => !device.connected, 'the device cut off');
    await waitFor(() => device.connected, 'the device reconnected through HAProxy', 30_000);
    await waitFor(() => actuator.connected, 'the actuator connected', 30_000);
    await settled(survivor, [survivor.id], 30_000);
    expect((await clientsOn([survivor]))[0]).toBeGreaterThanOrEqual(2);

    await device.publishAsync('sensors/hq/h2/t-ha/temperature', JSON.stringify({ value: 31, ts: Date.now(), id: 'ha-2' }), { qos: 1 });
    await waitFor(() => commands.includes('commands/hq/h2/hvac ha-2'), 'the command once only the survivor is left', 30_000);
    await waitFor(async () => (await fetch(`${httpUrl}/api/cluster`).catch(() => undefined))?.status === 200, 'the HTTP frontend answering from the survivor', 30_000);
    const view = (await (await fetch(`${httpUrl}/api/cluster`)).json()) as { node: string };
    expect(view.node).toBe(survivor.id);
  });
});
