/**
 * A saga's resend that falls due while the gateway is down goes out at the next start: the rules'
 * rebuild goes live (and resends) before the broker listens, so the publish waits for the broker's
 * state (its persistent sessions) to be restored instead of failing in Aedes. The plug's
 * persistent session gets the resent command, on `commands/…` and in its firmware's words, and
 * what is stored of the saga matches what went out.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const s = 1000;
const MAP = { devices: { 'tasmota:plug': { site: 'nx', zone: 'a' } }, actuators: { 'nx/a/ventilation': { device: 'tasmota:plug', channel: 1 } } };
const COMMAND = 'commands/nx/a/ventilation';
const NATIVE = 'cmnd/plug/POWER1';

let dataDir: string;
const db = uniqueDb('restart_resend');
let clock: ManualClock;
let gw: TestGateway;
let plug: MqttClient | undefined;
const received: { topic: string; payload: string }[] = [];

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startWithMap(MAP, { clock, dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native'), env: { STATS_INTERVAL_MS: '0' } });
}

/** The plug's firmware: a persistent session (as the broker keeps it across the restart), listening from before its CONNACK. */
async function plugOnline(): Promise<MqttClient> {
  const client = mqtt.connect(gw.mqttUrl, { clientId: 'DVES_PLUG', clean: false, reconnectPeriod: 0, connectTimeout: 5000 });
  client.on('message', (topic, payload) => void received.push({ topic, payload: payload.toString() }));
  await new Promise<void>((connected, failed) => {
    client.once('connect', () => connected());
    client.once('error', failed);
  });
  return client;
}

const sent = (topic: string): string[] => received.filter((m) => m.topic === topic).map((m) => m.payload);

async function statuses(): Promise<[string, number][]> {
  const found = await rows(gw.influxUrl, gw.db, `SELECT "status", "attempt" FROM "command_status" WHERE "zone" = 'a' AND "actuator" = 'ventilation'`);
  return found.map((r) => [String(r['status']), Number(r['attempt'])]);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-resend-'));
  await start(Date.now());
  plug = await plugOnline();
  await plug.subscribeAsync([COMMAND, 'cmnd/plug/#'], { qos: 1 });
  await plug.publishAsync('stat/plug/POWER1', 'OFF', { qos: 1 });
  await waitFor(() => gw.gateway.rules.runtime.commands.reports('nx/a/ventilation'), 'the plug’s first report');
  const sensor = await connect(gw.mqttUrl, { clientId: 'nx-sensor' });
  await sensor.publishAsync('sensors/nx/a/t1/temperature', JSON.stringify({ value: 30, id: 'nx-hot' }), { qos: 1 });
  await waitFor(() => sent(NATIVE).length === 1 && sent(COMMAND).length === 1, 'the command, on both topics');
  await sensor.endAsync();
  // The plug goes away without confirming; the gateway stops within the confirmation time (10 s).
  await plug.endAsync();
  plug = undefined;
  const at = clock.now() + 2 * s;
  await gw.stop();
  // Back after the confirmation time ran out: the resend falls due at the start.
  await start(at + 15 * s);
});

afterAll(async () => {
  await plug?.endAsync();
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a resend that fell due while the gateway was down', () => {
  it('goes out at the start, to the plug’s session on both topics, with no error', async () => {
    plug = await plugOnline();
    await waitFor(() => sent(NATIVE).length === 2 && sent(COMMAND).length === 2, 'the resend, on both topics');
    expect(sent(NATIVE)).toEqual(['ON', 'ON']);
    const [first, again] = sent(COMMAND).map((p) => JSON.parse(p) as { id: string });
    expect(again?.id).toBe(first?.id);
    expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
    await waitFor(async () => (await statuses()).length >= 2, 'the resend in InfluxDB');
    expect(await statuses()).toEqual([
      ['sent', 0],
      ['retried', 1],
    ]);
  });

  it('counts only the resends that went out when the actuator is given up', async () => {
    await advanceRules(gw, clock, 20 * s);
    await waitFor(() => sent(NATIVE).length === 3 && sent(COMMAND).length === 3, 'the second resend, on both topics');
    await advanceRules(gw, clock, 40 * s);
    await waitFor(async () => (await statuses()).length >= 4, 'the failure in InfluxDB');
    expect(await statuses()).toEqual([
      ['sent', 0],
      ['retried', 1],
      ['retried', 2],
      ['failed', 2],
    ]);
    expect(sent(NATIVE)).toEqual(['ON', 'ON', 'ON']);
    expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
  });
});
