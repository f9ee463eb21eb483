/**
 * A Zigbee2MQTT keypad's PIN (`action_code`, zigbee-herdsman-converters: the code typed before an
 * arm/disarm action) is never kept in clear: not in a device's sample (GET /api/devices), nor in
 * a dead letter (InfluxDB, `gateway/deadletter`, its detail), nor in the log. The rest of the
 * message still redrives once the keypad is placed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const PIN = '847261';

let gw: TestGateway & { mapFile: string };
let z2m: MqttClient;

beforeAll(async () => {
  gw = await startWithMap({ devices: { 'zigbee2mqtt:porch_keypad': { site: 'hq', zone: 'porch' } } });
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
});
afterAll(async () => {
  await z2m?.endAsync();
  await gw?.stop();
});

const keypad = (extra: Record<string, unknown>) => JSON.stringify({ action: 'arm_all_zones', action_code: PIN, action_transaction: 12, action_zone: 0, battery: 87, linkquality: 120, ...extra });

describe('a keypad’s code', () => {
  it('is redacted from an unplaced keypad’s dead letter and sample, and the rest redrives once it is placed', async () => {
    const letters = await collect(z2m, 'gateway/deadletter');
    await z2m.publishAsync('zigbee2mqtt/hall_keypad', keypad({}), { qos: 1 });
    const letter = await letters.next((m) => m.json<{ topic: string }>().topic === 'zigbee2mqtt/hall_keypad');
    expect(letter.payload).not.toContain(PIN);
    expect(letter.json<{ payload: string }>().payload).toContain('"action_code":"<redacted>"');
    const [kept] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT payload, detail FROM deadletters WHERE topic = 'zigbee2mqtt/hall_keypad'`).then((x) => (x.length ? x : undefined)), 'the dead letter in InfluxDB');
    expect(JSON.stringify(kept)).not.toContain(PIN);
    const api = await (await fetch(`${gw.httpUrl}/api/devices`)).text();
    expect(api).toContain('hall_keypad');
    expect(api).not.toContain(PIN);
    // Placed, its battery (the rest of the message) redrives.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'gateway/cli/devices.ts', 'assign', 'zigbee2mqtt:hall_keypad', '--site', 'hq', '--zone', 'hall', '--redrive', '--url', gw.httpUrl], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } });
    expect(stdout).toMatch(/1 redriven/);
    const [b] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM battery WHERE zone = 'hall' AND device = 'hall_keypad'`).then((x) => (x.length ? x : undefined)), 'the redriven battery');
    expect(b!['value']).toBe(87);
  });

  it('is redacted from a placed keypad’s invalid_payload dead letter and its sample', async () => {
    await z2m.publishAsync('zigbee2mqtt/porch_keypad', keypad({ battery: 'low!' }), { qos: 1 });
    const [kept] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT payload, detail FROM deadletters WHERE topic = 'zigbee2mqtt/porch_keypad'`).then((x) => (x.length ? x : undefined)), 'the dead letter in InfluxDB');
    expect(String(kept!['payload'])).toContain('<redacted>');
    expect(JSON.stringify(kept)).not.toContain(PIN);
    const api = await (await fetch(`${gw.httpUrl}/api/devices`)).text();
    expect(api).toContain('porch_keypad');
    expect(api).not.toContain(PIN);
    expect(JSON.stringify(gw.logs)).not.toContain(PIN);
  });
});
