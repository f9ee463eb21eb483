/**
 * Tasmotas whose FullTopic holds `%hostname%` or `%id%` besides `%topic%`: Tasmota puts its hostname
 * and its MAC without colons there (arendst/Tasmota GetTopic_P, xdrv_02_9_mqtt.ino), the same in
 * its commands' topic. The gateway reads them as any one level and learns their values from the
 * device's own message under the template, or its discovery config's `hn` and `mac`: its commands
 * go there. Before, no command was sent ("needs %hostname% or %id%, which the gateway does not know").
 *
 * Real gateway, real InfluxDB, real MQTT clients; the discovery config as Tasmota 14 publishes it.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const zones = { lamp1: 'f5', fan2: 'f6' } as const;
const MAP = {
  devices: Object.fromEntries(Object.entries(zones).map(([id, zone]) => [`tasmota:${id}`, { site: 'hq', zone }])),
  actuators: Object.fromEntries(Object.entries(zones).map(([id, zone]) => [`hq/${zone}/ventilation`, { device: `tasmota:${id}`, channel: 1 }])),
  tasmota: { fullTopics: ['%prefix%/%topic%/', 'tasmota/%hostname%/%topic%/%prefix%/', 'site/%id%/%topic%/%prefix%/'] },
};
const HOSTNAME = 'tasmota-F3C1E2-0468';
const MAC = 'A0B765F3C1E3';

let gw: TestGateway;
let firmware: MqttClient;
let sensor: MqttClient;

const hot = (zone: string, id: string) => sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value: 30, id }), { qos: 1 });

beforeAll(async () => {
  gw = await startWithMap(MAP, { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native'), env: { STATS_INTERVAL_MS: '0' } });
  firmware = await connect(gw.mqttUrl, { clientId: 'DVES_HOSTNAMES' });
  sensor = await connect(gw.mqttUrl, { clientId: 'hq-sensor' });
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a Tasmota on a FullTopic with its hostname or id', () => {
  it('with %hostname%: commanded under its hostname, learnt from its own messages', async () => {
    const relay = await collect(firmware, ['cmnd/lamp1/#', 'tasmota/+/lamp1/cmnd/#']);
    await firmware.publishAsync(`tasmota/${HOSTNAME}/lamp1/tele/LWT`, 'Online', { qos: 1, retain: true });
    await firmware.publishAsync(`tasmota/${HOSTNAME}/lamp1/stat/POWER1`, 'OFF', { qos: 1 });
    await waitFor(() => gw.gateway.rules.runtime.commands.reports('hq/f5/ventilation'), 'the relay’s first report');
    await hot('f5', 'hot-f5');
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual([`tasmota/${HOSTNAME}/lamp1/cmnd/POWER1`, 'ON']);
  });

  it('with %id%: commanded under its MAC, learnt from its discovery config before it sent anything else', async () => {
    const relay = await collect(firmware, ['cmnd/fan2/#', 'site/+/fan2/cmnd/#']);
    const config = { ip: '192.168.1.53', dn: 'Fan2', fn: ['Fan2', null], hn: 'tasmota-F3C1E3-0469', mac: MAC, md: 'Sonoff Basic', ty: 0, if: 0, ofln: 'Offline', onln: 'Online', state: ['OFF', 'ON', 'TOGGLE', 'HOLD'], sw: '14.3.0', t: 'fan2', ft: 'site/%id%/%topic%/%prefix%/', tp: ['cmnd', 'stat', 'tele'], rl: [1, 0], ver: 1 };
    await firmware.publishAsync(`tasmota/discovery/${MAC}/config`, JSON.stringify(config), { qos: 1, retain: true });
    await waitFor(() => gw.gateway.devices.router.learnt.tasmotaLayout('fan2') !== undefined, 'the config read');
    await hot('f6', 'hot-f6');
    const sent = await relay.next();
    expect([sent.topic, sent.payload]).toEqual([`site/${MAC}/fan2/cmnd/POWER1`, 'ON']);
  });
});
