/**
 * A Zigbee2MQTT bridge's devices across the gateway's restart. At its stop the gateway disconnects
 * every client and publishes their wills: the bridge's `bridge/state` offline, and so every device
 * behind it is stored offline. After the restart the bridge reconnects and says it is online: its
 * devices are online again, as when the bridge comes back without a restart, not offline for good
 * (Zigbee2MQTT sends no per-device availability unless that feature is on, so nothing else would
 * bring them back, and a device held offline is never watched for silence).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import type { LiveSnapshot } from '../../gateway/http/live.js';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const MAP = { devices: { 'zigbee2mqtt:f1_temp': { site: 'hq', zone: 'f1' }, 'zigbee2mqtt:f1_door': { site: 'hq', zone: 'f1' }, 'zigbee2mqtt:f1_dead': { site: 'hq', zone: 'f1' } } };
const WILL = { topic: 'zigbee2mqtt/bridge/state', payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1 as const, retain: true };

let dataDir: string;
const db = uniqueDb('restart_bridge');
let gw: TestGateway;

async function online(): Promise<{ api: Record<string, boolean | null>; live: Record<string, boolean | null | undefined> }> {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: DeviceView[] };
  const live = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
  return {
    api: Object.fromEntries(api.devices.filter((d) => d.nativeId !== 'bridge').map((d) => [d.nativeId, d.online])),
    live: Object.fromEntries(live.devices.map((d) => [d.device, d.online])),
  };
}

/** The bridge as Zigbee2MQTT connects (lib/mqtt.ts: a retained will `{"state":"offline"}`, then `online`). */
async function bridgeOnline() {
  const bridge = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge', will: WILL });
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  return bridge;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-bridge-'));
  gw = await startWithMap(MAP, { dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  const bridge = await bridgeOnline();
  await bridge.publishAsync('zigbee2mqtt/f1_temp', JSON.stringify({ temperature: 21.5, battery: 90, linkquality: 120 }), { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/f1_door', JSON.stringify({ contact: true, battery: 80, linkquality: 90 }), { qos: 1 });
  // A third whose battery died: Zigbee2MQTT's availability feature says so itself, retained (lib/extension/availability.ts).
  await bridge.publishAsync('zigbee2mqtt/f1_dead', JSON.stringify({ occupancy: false, battery: 1, linkquality: 20 }), { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/f1_dead/availability', JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
  await waitFor(async () => {
    const { live } = await online();
    return 'f1_temp' in live && 'f1_door' in live && live['f1_dead'] === false;
  }, 'all three on the live page, f1_dead offline');
  // Said online by their bridge (what a bridge back after a restart of its own does).
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await waitFor(async () => {
    const { api, live } = await online();
    return api['f1_temp'] !== false && live['f1_temp'] === true && live['f1_door'] === true;
  }, 'both online behind their bridge');
  await gw.stop();
  gw = await startWithMap(MAP, { dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
});

afterAll(async () => {
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after a restart', () => {
  it('the devices are offline with their bridge, whose will the stop published', async () => {
    const { api, live } = await online();
    expect(api).toEqual({ f1_temp: false, f1_door: false, f1_dead: false });
    expect(live).toMatchObject({ f1_temp: false, f1_door: false, f1_dead: false });
  });

  it('are online again once the bridge reconnects and says so, on both views', async () => {
    const bridge = await bridgeOnline();
    await waitFor(async () => {
      const { api, live } = await online();
      return api['f1_temp'] === true && api['f1_door'] === true && live['f1_temp'] === true && live['f1_door'] === true;
    }, 'both online again on /api/devices and the live page');
    // The device that said itself offline before the restart stays so: its bridge back is not its word.
    const { api, live } = await online();
    expect([api['f1_dead'], live['f1_dead']]).toEqual([false, false]);
    await bridge.endAsync();
  });
});
