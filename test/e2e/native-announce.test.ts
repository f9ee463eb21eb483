/**
 * A Gen1 Shelly announces itself on `shellies/announce` with its own id (the id its topics use:
 * ALLTERCO's Gen1 MQTT, and every consumer of it, e.g. ha-shellies-discovery, builds
 * `shellies/<id>/…` from it). An RGBW2's announce also says its mode, which decides the topics the
 * gateway commands it on. So a native credential (`shelly:<id>`) may announce its own device only:
 * one that names another device is not learnt from but kept as a dead letter naming both, and the
 * other device keeps being commanded where it listens.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { addCredentials } from '../helpers/auth.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const MINE = 'shellyrgbw2-AAAAAA';
const OTHER = 'shellyrgbw2-BBBBBB';
const announce = (id: string) => JSON.stringify({ id, model: 'SHRGBW2', mac: id.slice(-6), ip: '192.168.1.61', new_fw: false, fw_ver: '20221027-100516/v1.12.1-ga9117d3', mode: 'white' });

let gw: TestGateway;
let strip: MqttClient;
let ops: MqttClient;
let opsAuth: string;

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-native-announce-'));
  const secrets = await addCredentials(dataDir, [
    { name: 'ops', role: 'admin' },
    { name: 'strip-a', role: 'native', native: `shelly:${MINE}` },
  ]);
  opsAuth = `Basic ${Buffer.from(`ops:${secrets['ops']}`).toString('base64')}`;
  await writeFile(join(dataDir, 'devices.yaml'), `actuators:\n  hq/a/ventilation: shelly:${MINE}\n  hq/b/ventilation: shelly:${OTHER}\n`);
  gw = await startGateway({ dataDir, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') });
  // The RGBW2 connects as Gen1 firmware does, its client id its own id; `ops` stands for the sensors and the operator.
  strip = await connect(gw.mqttUrl, { username: 'strip-a', password: secrets['strip-a'], clientId: MINE });
  ops = await connect(gw.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'ops' });
});
afterAll(async () => {
  await Promise.all([strip, ops].map((c) => c?.endAsync().catch(() => undefined)));
  await gw?.stop();
});

describe('a Shelly’s credential and shellies/announce', () => {
  it('teaches its own light mode, not another device’s: that announce is a dead letter naming both', async () => {
    await strip.publishAsync('shellies/announce', announce(OTHER), { qos: 1 });
    await strip.publishAsync('shellies/announce', announce(MINE), { qos: 1 });
    const commands = await collect(ops, 'shellies/+/+/+/command');
    await ops.publishAsync('sensors/hq/a/t1/temperature', JSON.stringify({ value: 30, id: 'announce-hot-a' }), { qos: 1 });
    await ops.publishAsync('sensors/hq/b/t1/temperature', JSON.stringify({ value: 30, id: 'announce-hot-b' }), { qos: 1 });
    // Its own announce said white mode: white/0. The other RGBW2 never said so: color/0, where an RGBW2 in colour mode listens.
    expect((await commands.next((m) => m.topic.startsWith(`shellies/${MINE}/`))).topic).toBe(`shellies/${MINE}/white/0/command`);
    expect((await commands.next((m) => m.topic.startsWith(`shellies/${OTHER}/`))).topic).toBe(`shellies/${OTHER}/color/0/command`);
    const letters = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT reason, detail, client_id FROM deadletters WHERE topic = 'shellies/announce'`).then((x) => (x.length ? x : undefined)), 'the foreign announce’s dead letter');
    expect(letters.map((l) => [l['reason'], l['client_id']])).toEqual([['invalid_payload', MINE]]);
    expect(String(letters[0]!['detail'])).toContain(`shelly:${MINE}`);
    expect(String(letters[0]!['detail'])).toContain(OTHER);
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`, { headers: { authorization: opsAuth } })).text();
    expect(metrics).toMatch(/gateway_native_messages_total\{family="shelly",outcome="failure"\} 1\b/);
  });
});
