/**
 * GET /api/devices on any cluster node lists every node's native devices (gateway/devices/cluster-view.ts):
 * behind a load balancer an operator cannot choose the node a device is connected to. A node
 * that does not answer in time is named, not waited for.
 *
 * Real gateway processes on one real Redis and InfluxDB, real MQTT clients.
 */
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { nativeCluster, type ClusterNodeProcess } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

interface Listed {
  devices: { key: string; waiting: boolean; messages: number; heardBy: string[]; placements: { device: string }[] }[];
  unanswered?: string[];
}
const devicesOf = async (n: ClusterNodeProcess): Promise<Listed> => (await (await fetch(`${n.httpUrl}/api/devices`)).json()) as Listed;

describe('native devices listed by any cluster node', () => {
  it('lists the devices every node heard, with who heard them, and names a node that does not answer', { timeout: 120_000 }, async () => {
    const { a, b, connect } = await nativeCluster('cdevices', { devices: { 'zigbee2mqtt:hall_climate': { site: 'hq', zone: 'hall' } } }, { defer, track });

    // A mapped Zigbee2MQTT sensor through B; a device with no zone yet through A.
    const bridgeB = await connect(b.mqttUrl, 'zigbee2mqtt-b');
    await bridgeB.publishAsync('zigbee2mqtt/hall_climate', JSON.stringify({ temperature: 21.5, humidity: 40, linkquality: 120 }), { qos: 1 });
    const bridgeA = await connect(a.mqttUrl, 'zigbee2mqtt-a');
    await bridgeA.publishAsync('zigbee2mqtt/new_sensor', JSON.stringify({ temperature: 19 }), { qos: 1 });

    for (const node of [a, b]) {
      const listed = await waitFor(async () => {
        const l = await devicesOf(node);
        return l.devices.some((d) => d.key === 'zigbee2mqtt:hall_climate') && l.devices.some((d) => d.key === 'zigbee2mqtt:new_sensor') ? l : undefined;
      }, `node ${node.id} to list both devices`);
      expect(listed.unanswered).toEqual([]);
      const byKey = Object.fromEntries(listed.devices.map((d) => [d.key, d]));
      expect(byKey['zigbee2mqtt:hall_climate']).toMatchObject({ waiting: false, heardBy: ['B'], messages: 1, placements: [{ device: 'hall_climate' }] });
      expect(byKey['zigbee2mqtt:new_sensor']).toMatchObject({ waiting: true, heardBy: ['A'], messages: 1 });
      // Waiting devices first, as on one gateway.
      expect(listed.devices[0]!.key).toBe('zigbee2mqtt:new_sensor');
    }

    // B frozen: A answers with what it has, and says B did not answer.
    b.proc.child.kill('SIGSTOP');
    defer(async () => b.proc.child.kill('SIGCONT'));
    const alone = await devicesOf(a);
    b.proc.child.kill('SIGCONT');
    expect(alone.unanswered).toEqual(['B']);
    expect(alone.devices.map((d) => [d.key, d.heardBy])).toEqual([['zigbee2mqtt:new_sensor', ['A']]]);
  });
});
