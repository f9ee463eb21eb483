/**
 * The broker's state across a restart of the gateway process (an outside tester's report): a
 * retained device status, and a command queued for an actuator whose persistent session
 * (`clean=false`) is away, are still there after SIGTERM and after SIGKILL — as with Mosquitto's
 * persistence. A SIGKILL comes only once the snapshot says it holds them (its gauges), not after a sleep.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const ACTUATOR = 'commands/lab3/k7/hvac';

/** Connects `act-q7` with clean=false, collecting what arrives from the first packet on (queued messages come right after CONNACK). */
async function actuator(port: number): Promise<{ client: MqttClient; sessionPresent: boolean; messages: { topic: string; payload: string }[] }> {
  const messages: { topic: string; payload: string }[] = [];
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'act-q7', clean: false, reconnectPeriod: 0, connectTimeout: 5000 });
  client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, sessionPresent: connack.sessionPresent, messages };
}

async function firstRun(env: Record<string, string>): Promise<{ gateway: GatewayProcess; http: string }> {
  const gateway = track(spawnGateway(env));
  const ports = await gateway.started();
  const http = `http://127.0.0.1:${ports.http}`;
  // The actuator subscribes with a persistent session, then goes away.
  const act = await actuator(ports.mqtt);
  await act.client.subscribeAsync(ACTUATOR, { qos: 1 });
  await act.client.endAsync();
  // A device's retained status, and a reading that makes the shipped rules command HVAC.
  const device = await connect(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: 'ghost1' });
  await device.publishAsync('devices/ghost1/status', 'offline', { qos: 1, retain: true });
  await device.publishAsync('sensors/lab3/k7/t1/temperature', JSON.stringify({ value: 31, id: 'hot-k7', ts: Date.now() }), { qos: 1 });
  await device.endAsync();
  await waitFor(async () => (await scrape(http)).value('gateway_offline_queued_messages') === 1, 'the command to be queued for the away session');
  return { gateway, http };
}

async function secondRun(env: Record<string, string>, retained = ['devices/ghost1/status offline']): Promise<GatewayProcess> {
  const second = track(spawnGateway(env));
  const ports = await second.started();
  const act = await actuator(ports.mqtt);
  defer(() => act.client.endAsync());
  expect(act.sessionPresent).toBe(true);
  await waitFor(() => act.messages.length > 0, 'the queued command to be delivered');
  expect(act.messages.map((m) => [m.topic, (JSON.parse(m.payload) as { correlationid: string }).correlationid])).toEqual([[ACTUATOR, 'hot-k7']]);
  const watcher = await connect(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: 'watcher' });
  defer(() => watcher.endAsync());
  const statuses: string[] = [];
  watcher.on('message', (topic, payload) => statuses.push(`${topic} ${payload.toString()}`));
  await watcher.subscribeAsync('devices/+/status', { qos: 1 });
  await waitFor(() => statuses.length >= retained.length, 'the retained statuses');
  expect(statuses.sort()).toEqual(retained);
  return second;
}

describe('the broker across a restart', () => {
  async function setup(name: string): Promise<Record<string, string>> {
    const dataDir = await mkdtemp(join(tmpdir(), `gw-broker-${name}-`));
    defer(() => rm(dataDir, { recursive: true, force: true }));
    return { DATA_DIR: dataDir, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('brokerrestart'), RULES_DIR: 'rules', MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', STATS_INTERVAL_MS: '0' };
  }

  it('keeps retained messages and an away session with its queued command over SIGTERM', { timeout: 90_000 }, async () => {
    const env = await setup('term');
    const { gateway } = await firstRun(env);
    // A device still connected at the stop: its connection is cut without DISCONNECT, so its will is published, and kept.
    const ports = gateway.logs.find((l) => l.msg === 'gateway started')!['ports'] as { mqtt: number };
    const ghost2 = await connect(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: 'ghost2', will: { topic: 'devices/ghost2/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await ghost2.publishAsync('devices/ghost2/status', 'online', { qos: 1, retain: true });
    ghost2.on('error', () => undefined);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    const second = await secondRun(env, ['devices/ghost1/status offline', 'devices/ghost2/status offline']);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('keeps them over SIGKILL once the snapshot holds them', { timeout: 90_000 }, async () => {
    const env = await setup('kill');
    const { gateway, http } = await firstRun(env);
    await waitFor(async () => {
      const s = await scrape(http);
      return s.value('gateway_mqtt_snapshot_items', { item: 'queued' }) === 1 && s.value('gateway_mqtt_snapshot_items', { item: 'retained' }) >= 1;
    }, 'the snapshot to hold the queued command and the retained status');
    gateway.child.kill('SIGKILL');
    expect(await gateway.exited).toBeNull();
    const second = await secondRun(env);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('starts with an empty broker when the snapshot is damaged, and moves the file aside', { timeout: 60_000 }, async () => {
    const env = await setup('damaged');
    await writeFile(join(env['DATA_DIR']!, 'mqtt-state.bin'), Buffer.from('GWMQTT1\nnot a snapshot at all'));
    const gateway = track(spawnGateway(env));
    const ports = await gateway.started();
    expect(gateway.logs.some((l) => l['code'] === 'GW_ERR_MQTT_SNAPSHOT')).toBe(true);
    expect((await scrape(`http://127.0.0.1:${ports.http}`)).value('gateway_mqtt_snapshot_unreadable_total')).toBe(1);
    expect((await readdir(env['DATA_DIR']!)).filter((f) => f.startsWith('mqtt-state.bin.damaged-'))).toHaveLength(1);
    // The broker works: a persistent session is kept as usual.
    const act = await actuator(ports.mqtt);
    expect(act.sessionPresent).toBe(false);
    await act.client.endAsync();
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  });
});
