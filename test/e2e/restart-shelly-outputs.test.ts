/**
 * What a Gen2+ Shelly taught of its outputs holds across the gateway's restart: a Plus RGBW PM whose
 * NotifyFullStatus showed `rgbw:0` is sent `RGBW.Set`, a Plus Wall Dimmer under a prefix of its own
 * whose `status/light:0` came is sent `Light.Set` on `<prefix>/rpc`, without either reporting again.
 * Before, the restarted gateway sent the first `Switch.Set` (which its firmware refuses: "No handler
 * for Switch.Set") and the second a Gen1 relay command on `shellies/<prefix>/relay/0/command`, which
 * nothing listens to, until each reported again (a Shelly reports a change, not a steady state).
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB, real MQTT clients; the
 * devices' messages as their firmware sends them (Shelly Gen2 API: NotifyFullStatus on
 * `<prefix>/events/rpc` at connection, `<prefix>/status/<component>` with "Generic status update over MQTT").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const RGBW = 'shellyplusrgbwpm-aabbcc0033aa';
/** A Plus Wall Dimmer whose MQTT prefix was set to its place: neither its generation nor its output in the name. */
const PREFIXED = 'porch-dimmer';
const MAP = { actuators: { 'hq/f8/lights': `shelly:${RGBW}`, 'hq/f6/lights': `shelly:${PREFIXED}` } };

let dataDir: string;
const db = uniqueDb('restart_shelly_outputs');
let gw: TestGateway;
let sensor: MqttClient;

const start = async (): Promise<void> => {
  gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } });
};
const occupancy = (zone: string): Promise<unknown> => sensor.publishAsync(`sensors/hq/${zone}/o1/occupancy`, JSON.stringify({ value: true, id: `${zone}-o-true` }), { qos: 1 });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-shelly-'));
  await start();
  const firmware = await connect(gw.mqttUrl, { clientId: 'shelly-outputs-firmware' });
  // At its connection: every component's status (here in RGBW mode).
  const full = { ts: 1700000001.5, ble: {}, cloud: { connected: false }, 'input:0': { id: 0, state: false }, mqtt: { connected: true }, 'rgbw:0': { id: 0, source: 'init', output: false, rgb: [255, 255, 255], brightness: 100, white: 0, apower: 0, voltage: 12.1, current: 0, aenergy: { total: 0, by_minute: [0, 0, 0], minute_ts: 1700000000 }, temperature: { tC: 31.2, tF: 88.2 } }, sys: { mac: 'AABBCC0033AA', restart_required: false, uptime: 3 } };
  await firmware.publishAsync(`${RGBW}/events/rpc`, JSON.stringify({ src: RGBW, dst: `${RGBW}/events`, method: 'NotifyFullStatus', params: full }), { qos: 1 });
  await firmware.publishAsync(`${PREFIXED}/online`, 'true', { qos: 1, retain: true });
  await firmware.publishAsync(`${PREFIXED}/status/light:0`, JSON.stringify({ id: 0, source: 'init', output: false, brightness: 40, temperature: { tC: 38.1, tF: 100.6 } }), { qos: 1 });
  const { router } = gw.gateway.devices;
  await waitFor(() => router.reported('hq/f8/lights')?.state === 'off' && router.reported('hq/f6/lights')?.state === 'off', 'both devices’ states');
  await firmware.endAsync();
  await gw.stop();
  await start();
  sensor = await connect(gw.mqttUrl, { clientId: 'shelly-outputs-sensors' });
});

afterAll(async () => {
  await sensor?.endAsync();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after the gateway’s restart, before a Shelly Gen2+ reports again', () => {
  it('a Plus RGBW PM that showed rgbw:0 is sent RGBW.Set', async () => {
    const rpc = await collect(sensor, `${RGBW}/rpc`);
    await occupancy('f8');
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'RGBW.Set', params: { id: 0, on: true } });
  });

  it('a dimmer under a prefix of its own that showed light:0 is sent Light.Set on <prefix>/rpc, not a Gen1 relay command', async () => {
    const sent = await collect(sensor, [`${PREFIXED}/rpc`, `shellies/${PREFIXED}/#`]);
    await occupancy('f6');
    const call = await sent.next();
    expect(call.topic).toBe(`${PREFIXED}/rpc`);
    expect(call.json<{ method: string }>().method).toBe('Light.Set');
  });

  it('what the gateway retained for it is given to no client, not even one subscribed to #', async () => {
    const watcher = await connect(gw.mqttUrl, { clientId: 'shelly-outputs-watcher' });
    const topics: string[] = [];
    watcher.on('message', (topic) => topics.push(topic));
    await watcher.subscribeAsync('#', { qos: 1 });
    await watcher.publishAsync('watch/marker', 'after the retained', { qos: 1 });
    await waitFor(() => topics.includes('watch/marker') && topics.includes(`${PREFIXED}/online`), 'the retained messages and the marker');
    await watcher.endAsync();
    expect(topics.filter((t) => t.startsWith('$'))).toEqual([]);
  });
});
