/**
 * Who may talk, for native devices: a `bridge` credential (Zigbee2MQTT) publishes under its base
 * topic and the discovery prefix only; a `native` credential (one Tasmota) publishes its own
 * native topics and subscribes to its own command topics only, connecting with the firmware's
 * default client id (`DVES_…`). Their messages are decoded as their family first.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { addCredentials, publishExpectingDisconnect, subscribeCodes } from '../helpers/auth.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let secrets: Record<string, string>;
const open: MqttClient[] = [];

async function as(name: string, clientId: string): Promise<MqttClient> {
  const client = await connect(gw.mqttUrl, { username: name, password: secrets[name], clientId });
  open.push(client);
  return client;
}

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-native-access-'));
  secrets = await addCredentials(dataDir, [
    { name: 'z2m', role: 'bridge' },
    { name: 'plug-1', role: 'native', native: 'tasmota:tasmota_A1B2C3' },
    { name: 'plug-2', role: 'native', native: 'tasmota:tasmota_D4E5F6' },
    { name: 'ha', role: 'observer' },
  ]);
  await writeFile(join(dataDir, 'devices.yaml'), 'devices:\n  zigbee2mqtt:weather: { site: hq, zone: f1 }\n  tasmota:tasmota_A1B2C3: { site: hq, zone: f2, device: plug-1 }\n');
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync().catch(() => undefined)));
  await gw?.stop();
});

describe('a bridge credential', () => {
  it('publishes under its base topic and the discovery prefix, and is refused elsewhere', async () => {
    const bridge = await as('z2m', 'zigbee2mqtt_1a2b3c');
    expect(await subscribeCodes(bridge, ['zigbee2mqtt/#', 'homeassistant/status', 'commands/#'])).toEqual([1, 1, 128]);
    await bridge.publishAsync('zigbee2mqtt/bridge/state', '{"state":"online"}', { qos: 1, retain: true });
    await bridge.publishAsync('homeassistant/sensor/weather/t/config', JSON.stringify({ stat_t: 'zigbee2mqtt/weather', val_tpl: '{{ value_json.temperature }}', dev_cla: 'temperature', dev: { ids: ['zigbee2mqtt_0x1'] } }), { qos: 1 });
    await bridge.publishAsync('zigbee2mqtt/weather', '{"temperature":21.5,"pressure":1002}', { qos: 1 });
    const [t] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'weather'`).then((x) => (x.length ? x : undefined)), 'the bridge’s reading');
    expect(t!['value']).toBe(21.5);
    await publishExpectingDisconnect(bridge, 'sensors/hq/f1/weather/temperature', '{"value":99}');
  });
});

describe('a bridge credential’s packets', () => {
  it('may be as large as MAX_BRIDGE_PACKET_BYTES (a Zigbee2MQTT bridge/devices lists every device), where a device’s are cut at MAX_PACKET_BYTES', async () => {
    const bridge = await as('z2m', 'zigbee2mqtt_big');
    // ~1 MiB: what a network of ~100 devices' definitions comes to.
    const devices = Array.from({ length: 100 }, (_, i) => ({ friendly_name: `plug_${i}`, ieee_address: `0x${i.toString(16).padStart(16, '0')}`, type: 'Router', supported: true, definition: { model: 'E1603', vendor: 'IKEA', description: 'x'.repeat(10_000), exposes: [{ type: 'switch', features: [{ type: 'binary', name: 'state', property: 'state', value_on: 'ON', value_off: 'OFF', access: 7 }] }] } }));
    const list = JSON.stringify(devices);
    expect(list.length).toBeGreaterThan(1_000_000);
    await bridge.publishAsync('zigbee2mqtt/bridge/devices', list, { qos: 1 });
    expect(bridge.connected).toBe(true);
    await waitFor(() => gw.gateway.devices.router.learnt.zigbee2mqttForm('zigbee2mqtt', 'plug_99', undefined) === 'switch', 'the list read');
    const plug = await as('plug-1', 'DVES_A1B2C3');
    await publishExpectingDisconnect(plug, 'tele/tasmota_A1B2C3/SENSOR', 'x'.repeat(300_000));
  });
});

describe('a bridge credential’s retained messages', () => {
  it('may fill MQTT_MAX_RETAINED_BYTES_PER_BRIDGE: a Home Assistant on this broker gets every discovery config Zigbee2MQTT retained', async () => {
    const bridge = await as('z2m', 'zigbee2mqtt_retain');
    // ~150 entities' configs (~1 KB each, as Zigbee2MQTT's homeassistant extension publishes them): past the 64 KiB a device credential may retain.
    const configs = Array.from({ length: 150 }, (_, i) => [`homeassistant/sensor/0x${i.toString(16).padStart(16, '0')}/temperature/config`, JSON.stringify({ name: null, object_id: `plug_${i}_temperature`, unique_id: `0x${i}_temperature_zigbee2mqtt`, state_topic: `zigbee2mqtt/plug_${i}`, value_template: '{{ value_json.temperature }}', device_class: 'temperature', unit_of_measurement: '°C', state_class: 'measurement', availability: [{ topic: 'zigbee2mqtt/bridge/state', value_template: '{{ value_json.state }}' }], device: { identifiers: [`zigbee2mqtt_0x${i}`], manufacturer: 'IKEA', model: 'E1603', name: `plug_${i}`, via_device: 'zigbee2mqtt_bridge_0x00124b0012345678' }, origin: { name: 'Zigbee2MQTT', sw: '2.6.0', url: 'https://www.zigbee2mqtt.io' }, x: 'y'.repeat(400) })] as const);
    for (const [topic, payload] of configs) await bridge.publishAsync(topic, payload, { qos: 1, retain: true });
    expect(configs.reduce((n, [, p]) => n + p.length, 0)).toBeGreaterThan(100_000);
    const ha = await as('z2m', 'homeassistant_retain');
    const got = new Set<string>();
    ha.on('message', (topic, _p, packet) => void (packet.retain && got.add(topic)));
    await ha.subscribeAsync('homeassistant/sensor/+/temperature/config', { qos: 1 });
    await waitFor(() => got.size === configs.length, `all ${configs.length} retained configs (got ${got.size})`);
  });
});

describe('a native-device credential', () => {
  it('connects with the firmware’s default client id, publishes its own topics, subscribes to its own commands', async () => {
    const plug = await as('plug-1', 'DVES_A1B2C3');
    expect(await subscribeCodes(plug, ['cmnd/tasmota_A1B2C3/#', 'cmnd/tasmotas/#', 'cmnd/DVES_A1B2C3_fb/#', 'cmnd/other_plug/#', 'zigbee2mqtt/#'])).toEqual([1, 1, 1, 128, 128]);
    await plug.publishAsync('tele/tasmota_A1B2C3/LWT', 'Online', { qos: 1, retain: true });
    await plug.publishAsync('tele/tasmota_A1B2C3/SENSOR', '{"Time":"2026-11-27T10:00:00","ENERGY":{"Power":42,"Voltage":231}}', { qos: 1 });
    const [p] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM power WHERE device = 'plug-1'`).then((x) => (x.length ? x : undefined)), 'the plug’s power');
    expect(p!['value']).toBe(42);
    const [s] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT online FROM device_status WHERE device = 'plug-1'`).then((x) => (x.length ? x : undefined)), 'the plug’s status');
    expect(s!['online']).toBe(true);
  });

  it('retains Tasmota’s own discovery config for its own topic only: one naming another device is a dead letter, not retained', async () => {
    const plug = await as('plug-1', 'DVES_A1B2C3');
    // What Tasmota publishes (xdrv_12_discovery.ino): `t` is the device topic, the topic's last level its MAC.
    const config = (t: string, mac: string) => JSON.stringify({ ip: '192.168.1.50', dn: 'Plug', fn: ['Plug', null], hn: `${t}-1234`, mac, md: 'Sonoff Basic', t, ft: '%prefix%/%topic%/', tp: ['cmnd', 'stat', 'tele'], rl: [1, 0], swc: [-1], swn: [null], btn: [0], so: { '4': 0, '11': 0 }, lk: 0, lt_st: 0, sho: [], sht: [], ver: 1 });
    await plug.publishAsync('tasmota/discovery/A0B1C2D3E4F5/config', config('tasmota_A1B2C3', 'A0B1C2D3E4F5'), { qos: 1, retain: true });
    await plug.publishAsync('tasmota/discovery/0A1B2C3D4E5F/config', config('other_plug', '0A1B2C3D4E5F'), { qos: 1, retain: true });
    const [d] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT reason, detail FROM deadletters WHERE topic = 'tasmota/discovery/0A1B2C3D4E5F/config'`).then((x) => (x.length ? x : undefined)), 'the foreign config’s dead letter');
    expect(d!['detail']).toMatch(/speaks for tasmota:tasmota_A1B2C3 only/);
    // A later subscriber (Home Assistant) gets the plug's own config retained, not the other.
    const ha = await as('ha', 'ha');
    const retained: string[] = [];
    ha.on('message', (topic, _p, packet) => packet.retain && retained.push(topic));
    await ha.subscribeAsync('tasmota/discovery/#', { qos: 1 });
    await waitFor(() => retained.includes('tasmota/discovery/A0B1C2D3E4F5/config'), 'its own config retained');
    expect(retained).not.toContain('tasmota/discovery/0A1B2C3D4E5F/config');
  });

  it('may not replace or clear another plug’s retained discovery config, nor retain one naming no topic', async () => {
    const config = (t: string, mac: string) => JSON.stringify({ ip: '192.168.1.51', dn: 'Plug', fn: ['Plug', null], hn: `${t}-5678`, mac, md: 'Sonoff Basic', t, ft: '%prefix%/%topic%/', tp: ['cmnd', 'stat', 'tele'], rl: [1, 0], swc: [-1], swn: [null], btn: [0], so: { '4': 0, '11': 0 }, lk: 0, lt_st: 0, sho: [], sht: [], ver: 1 });
    const plug2 = await as('plug-2', 'DVES_D4E5F6');
    await plug2.publishAsync('tasmota/discovery/D4E5F6A0B1C2/config', config('tasmota_D4E5F6', 'D4E5F6A0B1C2'), { qos: 1, retain: true });
    const plug1 = await as('plug-1', 'DVES_A1B2C3');
    // Its own topic as t at plug-2's MAC, then a clear of plug-2's config, then a config naming no topic.
    await plug1.publishAsync('tasmota/discovery/D4E5F6A0B1C2/config', config('tasmota_A1B2C3', 'D4E5F6A0B1C2'), { qos: 1, retain: true });
    await plug1.publishAsync('tasmota/discovery/D4E5F6A0B1C2/config', '', { qos: 1, retain: true });
    await plug1.publishAsync('tasmota/discovery/A0B1C2D3E4F6/config', JSON.stringify({ t: '' }), { qos: 1, retain: true });
    const ha = await as('ha', 'ha:2');
    const retained = new Map<string, string>();
    ha.on('message', (topic, payload, packet) => packet.retain && retained.set(topic, payload.toString()));
    await ha.subscribeAsync('tasmota/discovery/#', { qos: 1 });
    await waitFor(() => retained.has('tasmota/discovery/D4E5F6A0B1C2/config'), 'plug-2’s config retained');
    expect((JSON.parse(retained.get('tasmota/discovery/D4E5F6A0B1C2/config')!) as { t: string }).t).toBe('tasmota_D4E5F6');
    expect(retained.has('tasmota/discovery/A0B1C2D3E4F6/config')).toBe(false);
  });

  it('is disconnected for publishing another device’s topics', async () => {
    const plug = await as('plug-1', 'DVES_A1B2C3');
    await publishExpectingDisconnect(plug, 'tele/other_plug/SENSOR', '{"ENERGY":{"Power":1}}');
  });
});
