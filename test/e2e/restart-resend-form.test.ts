/**
 * A resend that falls due while the gateway is down goes out at the next start in the form the
 * devices taught before the restart through retained messages: a Zigbee2MQTT plug its bridge's
 * `bridge/devices` lists as a switch is switched (`{"state":"ON"}`), not sent a thermostat's
 * `system_mode`; a switch announced by Home Assistant discovery is commanded on its own command
 * topic, not refused for want of its config (GW_ERR_NATIVE_COMMAND). The devices layer reads the
 * restored retained messages again before the rules go live (README "Across the gateway's restart").
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB, real MQTT clients with
 * persistent sessions (the broker keeps what is published to them while they and it are away).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { bridgeDevices, bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const s = 1000;
/** A switch announced by Home Assistant discovery, with its own payloads. */
const HA_CONFIG = { name: 'F18 AC plug', uniq_id: 'f18_plug_relay', stat_t: 'f18plug/relay/state', cmd_t: 'f18plug/relay/set', pl_on: '1', pl_off: '0', stat_on: 'on', stat_off: 'off', dev: { ids: ['f18_plug'], name: 'F18 AC plug' } };
const MAP = { actuators: { 'hq/f17/hvac': 'zigbee2mqtt:f17_plug', 'hq/f18/hvac': 'homeassistant:f18_plug', 'hq/f19/hvac': { device: 'esphome:f19-node', channel: 'heater' } } };
const Z2M_SET = 'zigbee2mqtt/f17_plug/set';

let dataDir: string;
const db = uniqueDb('restart_resend_form');
let clock: ManualClock;
let gw: TestGateway;
const clients: MqttClient[] = [];
const received: { topic: string; payload: string }[] = [];

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startWithMap(MAP, { clock, dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug'), env: { STATS_INTERVAL_MS: '0' } });
}

/** A firmware's persistent session (kept by the broker across its restart), listening from before its CONNACK. */
async function firmware(clientId: string): Promise<MqttClient> {
  const client = mqtt.connect(gw.mqttUrl, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000 });
  client.on('message', (topic, payload) => void received.push({ topic, payload: payload.toString() }));
  await new Promise<void>((connected, failed) => {
    client.once('connect', () => connected());
    client.once('error', failed);
  });
  clients.push(client);
  return client;
}

const sent = (topic: string): string[] => received.filter((m) => m.topic === topic).map((m) => m.payload);
/** What the ESPHome node was commanded, on whichever of its topics. */
const esphome = (): string[] => received.filter((m) => m.topic.startsWith('f19-node/') && m.topic.endsWith('/command')).map((m) => `${m.topic} ${m.payload}`);

async function forms(): Promise<Record<string, string>> {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { actuators: { target: string; form: string }[] };
  return Object.fromEntries(api.actuators.map((a) => [a.target, a.form]));
}

async function endAll(): Promise<void> {
  for (const c of clients.splice(0)) await c.endAsync();
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-resend-form-'));
  await start(Date.now());
  const bridge = await firmware('zigbee2mqtt-bridge');
  const ha = await firmware('f18-plug');
  const node = await firmware('f19-node');
  await node.subscribeAsync(['f19-node/switch/heater/command', 'f19-node/climate/heater/#'], { qos: 1 });
  await bridge.subscribeAsync(Z2M_SET, { qos: 1 });
  await ha.subscribeAsync(HA_CONFIG.cmd_t, { qos: 1 });
  // What the devices teach once, retained: the plug is a switch (its bridge's list), so is the discovered entity.
  const devices = bridgeDevices().map((d) => (d['friendly_name'] === 'window_ac_plug' ? { ...d, friendly_name: 'f17_plug' } : d));
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(devices), { qos: 1, retain: true });
  await ha.publishAsync('homeassistant/switch/f18_plug/relay/config', JSON.stringify(HA_CONFIG), { qos: 1, retain: true });
  await waitFor(async () => {
    const f = await forms();
    return f['hq/f17/hvac'] === 'switch' && f['hq/f18/hvac'] === 'switch';
  }, 'both switches learnt');
  // An ESPHome node without discovery: a switch by what it reports (stored; the rebuild reads it back).
  await node.publishAsync('f19-node/switch/heater/state', 'OFF', { qos: 1 });
  // Both off, then commanded on; neither confirms (the plugs lost their power, say).
  await bridge.publishAsync('zigbee2mqtt/f17_plug', JSON.stringify({ state: 'OFF' }), { qos: 1 });
  await ha.publishAsync(HA_CONFIG.stat_t, 'off', { qos: 1 });
  await waitFor(() => ['f17', 'f18', 'f19'].every((z) => gw.gateway.rules.runtime.commands.reports(`hq/${z}/hvac`)), 'the first reports');
  const sensor = await connect(gw.mqttUrl, { clientId: 'f17-sensor' });
  for (const zone of ['f17', 'f18', 'f19']) await sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value: 30, id: `${zone}-hot` }), { qos: 1 });
  await sensor.endAsync();
  await waitFor(() => sent(Z2M_SET).length === 1 && sent(HA_CONFIG.cmd_t).length === 1 && esphome().length > 0, 'the commands');
  expect(esphome()).toEqual(['f19-node/switch/heater/command ON']);
  await endAll();
  // Stopped within the confirmation time (10 s), back after it: the resends fall due at the start.
  const at = clock.now() + 2 * s;
  await gw.stop();
  await start(at + 15 * s);
});

afterAll(async () => {
  await endAll();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a resend that fell due while the gateway was down', () => {
  it('goes out in the form the devices taught before the restart: switched on, not a thermostat’s mode', async () => {
    await firmware('zigbee2mqtt-bridge');
    await firmware('f18-plug');
    await firmware('f19-node');
    const refused = () => gw.logs.filter((l) => l['code'] === 'GW_ERR_NATIVE_COMMAND');
    // The discovered switch's resend refused is a log line, not a publish: either ends the wait.
    await waitFor(() => sent(Z2M_SET).length === 2 && (sent(HA_CONFIG.cmd_t).length === 2 || refused().length > 0) && esphome().length >= 2, 'the resends');
    expect({ z2m: sent(Z2M_SET), ha: sent(HA_CONFIG.cmd_t), esphome: esphome(), refused: refused().map((l) => l['reason']) }).toEqual({
      z2m: ['{"state":"ON"}', '{"state":"ON"}'],
      ha: ['1', '1'],
      esphome: ['f19-node/switch/heater/command ON', 'f19-node/switch/heater/command ON'],
      refused: [],
    });
  });
});
