/**
 * A `native` Tasmota credential on a custom FullTopic (`tasmota: { fullTopics }` in the device map):
 * it publishes its own `home/<topic>/tele|stat/…` and receives its own `home/<topic>/cmnd/…` under
 * every template the map accepts, never another device's, and the ACL follows a reloaded map.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCredentials, publishExpectingDisconnect, subscribeCodes } from '../helpers/auth.js';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const map = (fullTopics: string[]) => ({
  devices: { 'tasmota:custom1': { site: 'hq', zone: 'f5' }, 'tasmota:custom2': { site: 'hq', zone: 'f6' } },
  actuators: { 'hq/f5/ventilation': { device: 'tasmota:custom1', channel: 1 } },
  tasmota: { fullTopics },
});

let dataDir: string;
let gw: TestGateway & { mapFile: string };
let secrets: Record<string, string>;
const open: MqttClient[] = [];

async function as(name: string, clientId: string): Promise<MqttClient> {
  const client = await connect(gw.mqttUrl, { username: name, password: secrets[name], clientId });
  open.push(client);
  return client;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-native-full-topic-access-'));
  secrets = await addCredentials(dataDir, [
    { name: 'plug-1', role: 'native', native: 'tasmota:custom1' },
    { name: 'plug-2', role: 'native', native: 'tasmota:custom2' },
    { name: 'ops', role: 'admin' },
  ]);
  gw = await startWithMap(map(['%prefix%/%topic%/', 'home/%topic%/%prefix%/']), { dataDir, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native'), env: { STATS_INTERVAL_MS: '0' } });
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync().catch(() => undefined)));
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a native Tasmota credential on a FullTopic the device map lists', () => {
  it('publishes its own home/<topic>/tele|stat/… and is commanded on home/<topic>/cmnd/…', async () => {
    const plug = await as('plug-1', 'DVES_C1C1C1');
    expect(await subscribeCodes(plug, ['home/custom1/cmnd/#', 'home/tasmotas/cmnd/#'])).toEqual([1, 1]);
    const relay = await collect(plug, 'home/custom1/cmnd/#');
    await plug.publishAsync('home/custom1/tele/LWT', 'Online', { qos: 1, retain: true });
    await plug.publishAsync('home/custom1/stat/POWER1', 'OFF', { qos: 1 });
    await waitFor(() => gw.gateway.rules.runtime.commands.reports('hq/f5/ventilation'), 'the relay’s first report');
    const sensor = await as('ops', 'ops:sensor');
    await sensor.publishAsync('sensors/hq/f5/t1/temperature', JSON.stringify({ value: 30, id: 'hot-f5' }), { qos: 1 });
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual(['home/custom1/cmnd/POWER1', 'ON']);
    await plug.publishAsync('home/custom1/stat/POWER1', 'ON', { qos: 1 });
    await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = 'f5'`)).some((r) => r['status'] === 'confirmed'), 'the confirmation');
    expect(plug.connected).toBe(true);
  });

  it('may not listen to another device’s commands, nor to every device’s, under that template', async () => {
    const plug = await as('plug-1', 'DVES_C1C1C2');
    expect(await subscribeCodes(plug, ['home/custom2/cmnd/#', 'home/+/cmnd/#', 'home/#', '+/custom1/cmnd/#'])).toEqual([128, 128, 128, 128]);
  });

  it('is disconnected for publishing another device’s topic under that template', async () => {
    const plug = await as('plug-1', 'DVES_C1C1C3');
    await publishExpectingDisconnect(plug, 'home/custom2/tele/SENSOR', '{"ENERGY":{"Power":1}}');
    const other = await as('plug-1', 'DVES_C1C1C4');
    await publishExpectingDisconnect(other, 'home/custom2/cmnd/POWER1', 'ON');
  });
});

describe('a reloaded device map', () => {
  it('changes what a native Tasmota credential may publish and listen to', async () => {
    await writeFile(gw.mapFile, stringify(map(['%prefix%/%topic%/', 'site/%topic%/%prefix%/'])));
    await waitFor(() => gw.gateway.devices.router.map.tasmota?.fullTopics?.includes('site/%topic%/%prefix%/'), 'the map reloaded');
    const plug = await as('plug-1', 'DVES_C1C1C5');
    expect(await subscribeCodes(plug, ['site/custom1/cmnd/#', 'home/custom1/cmnd/#'])).toEqual([1, 128]);
    await plug.publishAsync('site/custom1/tele/LWT', 'Online', { qos: 1 });
    expect(plug.connected).toBe(true);
    await publishExpectingDisconnect(plug, 'home/custom1/tele/LWT', 'Online');
  });
});
