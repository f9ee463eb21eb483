/**
 * Tasmotas on different FullTopics behind one device map (`tasmota: { fullTopics: […] }`): each is
 * commanded under the template its own messages use, or the one it announced in its discovery
 * config (`ft`); one the gateway knows nothing of yet under the first template, said once in the
 * log. After a restart, the retained LWT (`home/<topic>/tele/LWT`) teaches it again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const zones = { custom1: 'f5', custom2: 'f6', plain1: 'f7', custom3: 'f8' } as const;
const MAP = {
  devices: Object.fromEntries(Object.entries(zones).map(([id, zone]) => [`tasmota:${id}`, { site: 'hq', zone }])),
  actuators: Object.fromEntries(Object.entries(zones).map(([id, zone]) => [`hq/${zone}/ventilation`, { device: `tasmota:${id}`, channel: 1 }])),
  tasmota: { fullTopics: ['%prefix%/%topic%/', 'home/%topic%/%prefix%/'] },
};

let dataDir: string;
const db = uniqueDb('tasmota_full_topics');
let gw: TestGateway;
let firmware: MqttClient;
let sensor: MqttClient;

const start = async (): Promise<void> => {
  gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native'), env: { STATS_INTERVAL_MS: '0' } });
  firmware = await connect(gw.mqttUrl, { clientId: 'DVES_FULLTOPICS' });
  sensor = await connect(gw.mqttUrl, { clientId: 'hq-sensor' });
};

const hot = (zone: string, id: string) => sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value: 30, id }), { qos: 1 });

async function statuses(zone: string): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = '${zone}' AND "actuator" = 'ventilation'`)).map((r) => String(r['status']));
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-tasmota-full-topics-'));
  await start();
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a Tasmota on a FullTopic other than the first the map lists', () => {
  it('is commanded under the template its own messages use, and the command is confirmed', async () => {
    const relay = await collect(firmware, ['cmnd/custom1/#', 'home/custom1/cmnd/#']);
    await firmware.publishAsync('home/custom1/tele/LWT', 'Online', { qos: 1, retain: true });
    await firmware.publishAsync('home/custom1/stat/POWER1', 'OFF', { qos: 1 });
    await waitFor(() => gw.gateway.rules.runtime.commands.reports('hq/f5/ventilation'), 'the relay’s first report');
    await hot('f5', 'hot-f5');
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual(['home/custom1/cmnd/POWER1', 'ON']);
    await firmware.publishAsync('home/custom1/stat/POWER1', 'ON', { qos: 1 });
    await waitFor(async () => (await statuses('f5')).includes('confirmed'), 'the confirmation in InfluxDB');
    expect(await statuses('f5')).toEqual(['sent', 'confirmed']);
    expect(relay.messages.map((m) => m.topic)).toEqual(['home/custom1/cmnd/POWER1']);
  });

  it('is commanded under the FullTopic its discovery config announced, before it sent anything else', async () => {
    const relay = await collect(firmware, ['cmnd/custom2/#', 'home/custom2/cmnd/#']);
    // arendst/Tasmota tasmota_xdrv_driver/xdrv_12_discovery.ino: `t` its topic, `ft` its FullTopic, `tp` its prefixes.
    await firmware.publishAsync('tasmota/discovery/A0B765F3C1E2/config', '{"ip":"192.168.1.52","dn":"Custom2","fn":["Custom2",null],"hn":"tasmota-F3C1E2-0468","mac":"A0B765F3C1E2","md":"Sonoff Basic","ty":0,"if":0,"ofln":"Offline","onln":"Online","state":["OFF","ON","TOGGLE","HOLD"],"sw":"14.3.0","t":"custom2","ft":"home/%topic%/%prefix%/","tp":["cmnd","stat","tele"],"rl":[1,0],"ver":1}', { qos: 1, retain: true });
    await waitFor(() => gw.gateway.devices.router.registry.get('tasmota', 'custom2'), 'the discovery config read');
    await hot('f6', 'hot-f6');
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual(['home/custom2/cmnd/POWER1', 'ON']);
  });

  it('one not heard from yet is commanded under the first template, and the log says so once', async () => {
    const relay = await collect(firmware, ['cmnd/plain1/#', 'home/plain1/cmnd/#']);
    await hot('f7', 'hot-f7');
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual(['cmnd/plain1/POWER1', 'ON']);
    expect(gw.logs.filter((l) => l['device'] === 'tasmota:plain1' && /first of the device map's fullTopics/.test(l.msg))).toHaveLength(1);
  });

  it('is commanded under its own template after a restart, taught again by its retained LWT', async () => {
    await firmware.publishAsync('home/custom3/tele/LWT', 'Online', { qos: 1, retain: true });
    await waitFor(() => gw.gateway.devices.router.registry.get('tasmota', 'custom3'), 'the LWT read');
    await firmware.endAsync();
    await sensor.endAsync();
    await gw.stop();
    await start();
    const relay = await collect(firmware, ['cmnd/custom3/#', 'home/custom3/cmnd/#']);
    await hot('f8', 'hot-f8');
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual(['home/custom3/cmnd/POWER1', 'ON']);
  });
});
