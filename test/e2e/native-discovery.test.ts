/**
 * A native credential may publish Home Assistant discovery configs under its own node id
 * (`homeassistant/<component>/<own id>/<object>/config`), but what such a config says decides how
 * other topics are read and where commands go: the topics it reads and commands, and the device
 * its readings and commands belong to (`device.identifiers`). So a config from a credential bound
 * to one device may read only topics that device may publish, command only topics it may listen
 * to, and name no device whose configs came from another: else it is a dead letter naming both,
 * not learnt, and the other devices keep being read and commanded as before.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { addCredentials } from '../helpers/auth.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

/** The desk node's MAC: ESPHome's `device.identifiers`, and what the map places it by. */
const DESK_MAC = 'b0b0b0b0b0b0';
const HALL_MAC = 'c0c0c0c0c0c0';
const ESPHOME_DEV = (ids: string, name: string) => ({ ids, name, sw: 'esphome v2025.10.0', mdl: 'esp32dev' });

let gw: TestGateway;
let rogue: MqttClient;
let porch: MqttClient;
let desk: MqttClient;
let ops: MqttClient;
const sq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The dead letters of a topic, once one is there. */
const lettersOf = (topic: string) => waitFor(() => rows(gw.influxUrl, gw.db, `SELECT reason, detail, client_id FROM deadletters WHERE topic = ${sq(topic)}`).then((x) => (x.length ? x : undefined)), `the dead letter of ${topic}`);

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-native-discovery-'));
  const secrets = await addCredentials(dataDir, [
    { name: 'ops', role: 'admin' },
    { name: 'rogue', role: 'native', native: 'tasmota:rogue_plug' },
    { name: 'porch', role: 'native', native: 'esphome:porch-node' },
    { name: 'desk', role: 'native', native: 'esphome:desk-node' },
  ]);
  await writeFile(
    join(dataDir, 'devices.yaml'),
    [
      'devices:',
      '  esphome:porch-node: { site: hq, zone: porch }',
      `  homeassistant:${DESK_MAC}: { site: hq, zone: desk }`,
      'actuators:',
      `  hq/hall/ventilation: homeassistant:${HALL_MAC}`,
      '',
    ].join('\n'),
  );
  gw = await startGateway({ dataDir, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') });
  rogue = await connect(gw.mqttUrl, { username: 'rogue', password: secrets['rogue'], clientId: 'DVES_R0GUE1' });
  porch = await connect(gw.mqttUrl, { username: 'porch', password: secrets['porch'], clientId: 'porch-node-a0b765f3c1d5' });
  desk = await connect(gw.mqttUrl, { username: 'desk', password: secrets['desk'], clientId: `desk-node-${DESK_MAC}` });
  ops = await connect(gw.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'ops' });
});
afterAll(async () => {
  await Promise.all([rogue, porch, desk, ops].map((c) => c?.endAsync().catch(() => undefined)));
  await gw?.stop();
});

describe('a native credential’s Home Assistant discovery configs', () => {
  it('cannot change how another device’s state topic is read (its unit): that config is a dead letter', async () => {
    // The porch node's own config: its temperature in °C.
    await porch.publishAsync('homeassistant/sensor/porch-node/porch_t/config', JSON.stringify({ dev_cla: 'temperature', unit_of_meas: '°C', name: 'Porch T', stat_t: 'porch-node/sensor/porch_t/state', avty_t: 'porch-node/status', dev: ESPHOME_DEV('a0b765f3c1d5', 'porch-node') }), { qos: 1, retain: true });
    // A Tasmota plug's credential says the porch's topic is in °F.
    const foreign = 'homeassistant/sensor/rogue_plug/porch_t/config';
    await rogue.publishAsync(foreign, JSON.stringify({ dev_cla: 'temperature', unit_of_meas: '°F', name: 'Porch T', stat_t: 'porch-node/sensor/porch_t/state' }), { qos: 1, retain: true });
    await porch.publishAsync('porch-node/sensor/porch_t/state', '22', { qos: 1 });
    const [t] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE zone = 'porch'`).then((x) => (x.length ? x : undefined)), 'the porch temperature');
    expect(t!['value']).toBe(22);
    const letters = await lettersOf(foreign);
    expect(letters.map((l) => [l['reason'], l['client_id']])).toEqual([['invalid_payload', 'DVES_R0GUE1']]);
    expect(String(letters[0]!['detail'])).toContain('tasmota:rogue_plug');
    expect(String(letters[0]!['detail'])).toContain('porch-node/sensor/porch_t/state');
  });

  it('cannot name a device another node’s configs announced: its readings are not that device’s', async () => {
    // The desk node (ESPHome: identifiers = its MAC) announces its light.
    await desk.publishAsync('homeassistant/light/desk-node/desk/config', JSON.stringify({ schema: 'json', name: 'Desk', stat_t: 'desk-node/light/desk/state', cmd_t: 'desk-node/light/desk/command', avty_t: 'desk-node/status', dev: ESPHOME_DEV(DESK_MAC, 'desk-node') }), { qos: 1, retain: true });
    // The plug announces a smoke detector of the desk's, on a topic of its own, and says smoke.
    const foreign = 'homeassistant/binary_sensor/rogue_plug/smoke/config';
    await rogue.publishAsync(foreign, JSON.stringify({ dev_cla: 'smoke', name: 'Smoke', stat_t: 'rogue_plug/tele/SMOKE', dev: { ids: [DESK_MAC] } }), { qos: 1, retain: true });
    await rogue.publishAsync('rogue_plug/tele/SMOKE', 'ON', { qos: 1 });
    const letters = await lettersOf(foreign);
    expect(letters.map((l) => l['reason'])).toEqual(['invalid_payload']);
    expect(String(letters[0]!['detail'])).toContain('tasmota:rogue_plug');
    expect(String(letters[0]!['detail'])).toContain(DESK_MAC);
    expect(String(letters[0]!['detail'])).toContain('desk-node');
    // Its state message is then nobody's: a dead letter, no smoke in the desk's zone.
    await lettersOf('rogue_plug/tele/SMOKE');
    expect(await rows(gw.influxUrl, gw.db, `SELECT value FROM smoke WHERE zone = 'desk'`)).toEqual([]);
  });

  it('cannot send the gateway’s commands to another device’s command topic', async () => {
    // The hall's ventilation is a discovered switch not announced yet; the plug announces it, commanded on the boiler's topic.
    const foreign = 'homeassistant/switch/rogue_plug/vent/config';
    await rogue.publishAsync(foreign, JSON.stringify({ name: 'Vent', stat_t: 'rogue_plug/tele/VENT', cmd_t: 'cmnd/boiler/POWER', dev: { ids: [HALL_MAC] } }), { qos: 1, retain: true });
    await lettersOf(foreign);
    await ops.publishAsync('sensors/hq/hall/t1/temperature', JSON.stringify({ value: 30, id: 'discovery-hot-hall' }), { qos: 1 });
    const [sent] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT topic, error FROM native_commands WHERE zone = 'hall'`).then((x) => (x.length ? x : undefined)), 'the hall ventilation’s native command');
    expect(sent!['topic']).not.toBe('cmnd/boiler/POWER');
    expect(String(sent!['error'])).toContain('no discovery config');
  });
});
