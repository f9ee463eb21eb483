/**
 * A Gen1 Shelly colour light's mode holds across the gateway's restart as a Gen2+ Shelly's outputs
 * do: an RGBW2 in white mode (learnt from its `white/<n>/status`) is commanded on `white/0/command`
 * after the restart, before it reports again. Before, only Gen2+ outputs were kept: the restarted
 * gateway sent `color/0/command` (what an RGBW2's id says before its mode is heard), which a
 * white-mode RGBW2 does not act on, until it reported again (Gen1 API: RGBW2 `white/<n>/command` in
 * white mode, `color/0/command` in colour mode).
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB, real MQTT clients; the
 * status as an RGBW2 sends it (Schnittcher/IPS-Shelly ShellyRGBW2: `white/1/status`).
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

const RGBW2 = 'shellyrgbw2-AABBCC0066';
const MAP = { actuators: { 'hq/f7/lights': `shelly:${RGBW2}` } };

let dataDir: string;
const db = uniqueDb('restart_shelly_gen1_mode');
let gw: TestGateway;
let sensor: MqttClient;

const start = async (): Promise<void> => {
  gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } });
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-shelly-gen1-'));
  await start();
  const firmware = await connect(gw.mqttUrl, { clientId: 'shelly-gen1-firmware' });
  await firmware.publishAsync(`shellies/${RGBW2}/white/0/status`, '{"ison":false,"mode":"white","brightness":16,"power":0.00,"overpower":false}', { qos: 1 });
  await waitFor(() => gw.gateway.devices.router.learnt.shellyLightMode(RGBW2) === 'white', 'its mode learnt');
  await firmware.endAsync();
  await gw.stop();
  await start();
  sensor = await connect(gw.mqttUrl, { clientId: 'shelly-gen1-sensors' });
});

afterAll(async () => {
  await sensor?.endAsync();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after the gateway’s restart, before a Gen1 RGBW2 reports again', () => {
  it('one in white mode is commanded on white/0/command', async () => {
    const sent = await collect(sensor, `shellies/${RGBW2}/+/0/command`);
    await sensor.publishAsync('sensors/hq/f7/o1/occupancy', JSON.stringify({ value: true, id: 'f7-o-true' }), { qos: 1 });
    const call = await sent.next();
    expect({ topic: call.topic, payload: call.payload }).toEqual({ topic: `shellies/${RGBW2}/white/0/command`, payload: 'on' });
  });
});
