/**
 * A Zigbee2MQTT bridge that goes offline (`bridge/state` `{"state":"offline"}`, retained, or its
 * will, legacy `offline`) takes its devices offline, those that never sent an availability of
 * their own too: Zigbee2MQTT's availability feature is off by default, so most devices never do
 * (its own Home Assistant discovery makes `bridge/state` every device's availability,
 * lib/extension/homeassistant.ts). `GET /api/devices` said `online: null` for them while the live
 * page and the stored `device_status` said offline. Back online with the bridge; a device that
 * said offline itself stays so.
 *
 * Real gateway, real InfluxDB, real MQTT clients as the bridge.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import type { LiveSnapshot } from '../../gateway/http/live.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const MAP = { devices: { 'zigbee2mqtt:pir_1': { site: 'hq', zone: 'f3' }, 'zigbee2mqtt:smoke_det': { site: 'hq', zone: 'f3' }, 'zigbee2mqtt:dead_pir': { site: 'hq', zone: 'f3' } } };
const NAMES = ['pir_1', 'smoke_det', 'dead_pir'];

let gw: TestGateway;
let bridge: MqttClient;

async function online(): Promise<{ api: Record<string, boolean | null>; live: Record<string, boolean | null | undefined> }> {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: DeviceView[] };
  const live = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
  return {
    api: Object.fromEntries(api.devices.filter((d) => NAMES.includes(d.nativeId)).map((d) => [d.nativeId, d.online])),
    live: Object.fromEntries(live.devices.filter((d) => NAMES.includes(d.device)).map((d) => [d.device, d.online])),
  };
}

const stored = (device: string) => rows(gw.influxUrl, gw.db, `SELECT online FROM device_status WHERE device = '${device}'`).then((r) => r.map((x) => x['online']));

/** The bridge as Zigbee2MQTT connects (lib/mqtt.ts): a retained will, then `online`. */
async function bridgeOnline(will: string): Promise<MqttClient> {
  const c = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge', reconnectPeriod: 0, will: { topic: 'zigbee2mqtt/bridge/state', payload: Buffer.from(will), qos: 1, retain: true } });
  await c.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  return c;
}

beforeAll(async () => {
  gw = await startWithMap(MAP, { env: { STATS_INTERVAL_MS: '0' } });
  bridge = await bridgeOnline(JSON.stringify({ state: 'offline' }));
  // No availability of their own (Zigbee2MQTT's default), as a PIR and a smoke detector report.
  await bridge.publishAsync('zigbee2mqtt/pir_1', JSON.stringify({ battery: 100, illuminance: 17, linkquality: 90, occupancy: false, voltage: 3045 }), { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/smoke_det', JSON.stringify({ battery: 90, battery_low: false, linkquality: 60, smoke: false, tamper: false }), { qos: 1 });
  // One whose own availability (the feature on for it) says offline: the bridge back is not its word.
  await bridge.publishAsync('zigbee2mqtt/dead_pir', JSON.stringify({ battery: 1, linkquality: 20, occupancy: false }), { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/dead_pir/availability', JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
  await waitFor(async () => Object.keys((await online()).api).length === 3 && (await online()).api['dead_pir'] === false, 'the three listed');
});

afterAll(async () => {
  bridge?.end(true);
  await gw?.stop();
});

describe('the bridge offline takes every device of it offline, its own availability or not', () => {
  it('bridge/state {"state":"offline"}: offline on /api/devices, the live page and in device_status', async () => {
    await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
    await waitFor(async () => (await online()).live['pir_1'] === false && (await stored('pir_1')).length > 0, 'the bridge’s offline taken in');
    expect(await online()).toEqual({ api: { pir_1: false, smoke_det: false, dead_pir: false }, live: { pir_1: false, smoke_det: false, dead_pir: false } });
    expect(await stored('pir_1')).toEqual([false]);
  });

  it('back online with the bridge, stored so; the one that said offline itself stays offline', async () => {
    await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
    await waitFor(async () => (await stored('smoke_det')).length > 1, 'the bridge’s online taken in');
    expect(await online()).toEqual({ api: { pir_1: true, smoke_det: true, dead_pir: false }, live: { pir_1: true, smoke_det: true, dead_pir: false } });
    expect(await stored('smoke_det')).toEqual([false, true]);
  });

  it('its will, legacy `offline`, when it drops: offline again', async () => {
    await bridge.endAsync();
    bridge = await bridgeOnline('offline');
    // Dropped, not disconnected: the broker publishes its will.
    bridge.stream.destroy();
    await waitFor(async () => (await online()).api['pir_1'] === false, 'the will taken in');
    expect(await online()).toEqual({ api: { pir_1: false, smoke_det: false, dead_pir: false }, live: { pir_1: false, smoke_det: false, dead_pir: false } });
  });
});
