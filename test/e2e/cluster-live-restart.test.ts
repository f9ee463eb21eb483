/**
 * A cluster node killed and started again shows on its live page what the cluster knows, as the
 * node that stayed up does: the actuator-only devices (a contract actuator known by its status, a
 * Tasmota relay known by its LWT), the actuators' reported states, and the devices found silent.
 *
 * Real gateway processes on a real Redis and InfluxDB, real MQTT clients; the devices talk to B.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import type { LiveSnapshot } from '../../gateway/http/live-types.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, type ClusterNodeProcess } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

const live = async (n: ClusterNodeProcess): Promise<LiveSnapshot> => (await (await fetch(`${n.httpUrl}/live/state`)).json()) as LiveSnapshot;

/** What a live page shows of devices (online, silent, where) and of reports, without times. */
function shown(s: LiveSnapshot) {
  return {
    devices: Object.fromEntries(s.devices.map((d) => [d.device, { site: d.site, zone: d.zone, online: d.online, silent: d.silent ?? false }])),
    reported: Object.fromEntries(Object.entries(s.reported).map(([k, r]) => [k, { state: r.state, device: r.device }])),
  };
}

describe('a restarted cluster node\'s live page', () => {
  it('shows the same devices, reported states and silences as the node that stayed up', { timeout: 150_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-clr-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const devicesFile = join(dir, 'devices.yaml');
    await writeFile(devicesFile, stringify({ devices: { 'tasmota:f2_relay': { site: 'hq', zone: 'f2', device: 'f2-relay' } }, actuators: { 'hq/f2/lights': { device: 'tasmota:f2_relay', channel: 1 }, 'hq/f4/hvac': { device: 'tasmota:f4_relay', as: 'switch' } } }));
    const redis = await startRedis();
    defer(() => redis.stop());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('clrestart'), RULES_DIR: 'rules', DEVICES_FILE: devicesFile, LIVE_PUSH_MS: '50', OFFLINE_AFTER_MS: '2000' };
    const [a, b] = (await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)))) as [ClusterNodeProcess, ClusterNodeProcess];
    await settled(a, ['A', 'B']);
    const connect = async (clientId: string, will?: mqtt.IClientOptions['will']) => {
      const c = await mqtt.connectAsync(b.mqttUrl, { clientId, reconnectPeriod: 0, ...(will ? { will } : {}) });
      defer(() => c.endAsync(true));
      return c;
    };

    // A contract actuator: its status, and its state reported for the hvac it is subscribed to.
    const hvac = await connect('hvac-f1');
    await hvac.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    await hvac.publishAsync('devices/hvac-f1/status', 'online', { qos: 1, retain: true });
    await hvac.publishAsync('devices/hvac-f1/state', JSON.stringify({ mode: 'off' }), { qos: 1 });
    // A Tasmota relay: its LWT, and its POWER.
    const relay = await connect('f2_relay');
    await relay.publishAsync('tele/f2_relay/LWT', 'Online', { qos: 1, retain: true });
    await relay.publishAsync('stat/f2_relay/POWER', 'ON', { qos: 1 });
    // A Tasmota relay that has said only its LWT: heard by B all the same.
    const quiet = await connect('f4_relay');
    await quiet.publishAsync('tele/f4_relay/LWT', 'Online', { qos: 1, retain: true });
    // A sensor heard once: silent OFFLINE_AFTER_MS later.
    const sensor = await connect('t-quiet');
    await sensor.publishAsync('sensors/hq/f3/t-quiet/temperature', JSON.stringify({ value: 20, id: 'q1' }), { qos: 1 });

    const before = shown(
      await waitFor(async () => {
        const s = await live(b);
        const { devices, reported } = shown(s);
        return devices['hvac-f1'] && devices['f2-relay'] && devices['t-quiet']?.silent && reported['hq/f1/hvac'] && reported['hq/f2/lights'] ? s : undefined;
      }, 'B shows the actuators, their reports and the silent sensor', 30_000),
    );
    // A (up all along) shows the same.
    await waitFor(async () => JSON.stringify(shown(await live(a))) === JSON.stringify(before) || undefined, 'A shows what B shows before its restart', 10_000).catch(() => undefined);

    a.proc.child.kill('SIGKILL');
    await a.proc.exited;
    await a.restart();
    await settled(b, ['A', 'B']);

    const after = shown(await live(a));
    expect(after.devices).toEqual(before.devices);
    expect(after.reported).toEqual(before.reported);
    expect(shown(await live(b))).toEqual(before);
    // GET /api/devices on either node: the relay heard only through its LWT was heard by B.
    for (const n of [a, b]) {
      const { devices } = (await (await fetch(`${n.httpUrl}/api/devices`)).json()) as { devices: { key: string; heardBy: string[] }[] };
      expect(devices.find((d) => d.key === 'tasmota:f4_relay')?.heardBy, n.id).toEqual(['B']);
    }
  });
});
