/**
 * End to end, with a real broker on real sockets, real mqtt clients and a real InfluxDB:
 * reading → rules → command topic, and every event counted in InfluxDB.
 */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { runSimulation } from '../../simulators/simulator.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { count, countReadings, rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let device: MqttClient;
let watcher: MqttClient;

beforeAll(async () => {
  gw = await startGateway();
  device = await connect(gw.mqttUrl, { clientId: 't1' });
  watcher = await connect(gw.mqttUrl, { clientId: 'watcher' });
});
afterAll(async () => {
  await device?.endAsync();
  await watcher?.endAsync();
  await gw?.stop();
});

describe('a reading far outside the comfort band', () => {
  it('commands cooling on commands/<site>/<zone>/hvac as a CloudEvent correlated with the reading, within a second', async () => {
    const commands = await collect(watcher, 'commands/hq/f1/hvac');
    const sentAt = Date.now();
    await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 31, id: 'r-31', seq: 5 }), { qos: 1 });
    const cmd = await commands.next(() => true, 1000);
    expect(Date.now() - sentAt).toBeLessThan(1000);
    const ce = cmd.json();
    expect(ce).toMatchObject({
      specversion: '1.0',
      type: 'hvac.set',
      source: 'rules/hvac-cool',
      correlationid: 'r-31',
      data: { mode: 'cool', setpoint: 22 },
    });
    expect(typeof ce['id']).toBe('string');
    expect(Number.isNaN(Date.parse(String(ce['time'])))).toBe(false);
  });

  it('stores the reading and the command in InfluxDB as DESIGN.md lays them out', async () => {
    await waitFor(async () => (await count(gw.influxUrl, gw.db, 'temperature')) >= 1, 'the reading in InfluxDB');
    const [reading] = await rows(gw.influxUrl, gw.db, `SELECT value, seq, event_id, site, zone, device FROM temperature WHERE event_id = 'r-31'`);
    expect(reading).toMatchObject({ value: 31, seq: 5, event_id: 'r-31', site: 'hq', zone: 'f1', device: 't1' });
    const [command] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT * FROM commands WHERE correlation_id = 'r-31'`).then((r) => (r.length ? r : undefined)), 'the command in InfluxDB');
    expect(command).toMatchObject({ site: 'hq', zone: 'f1', actuator: 'hvac', rule: 'hvac-cool', type: 'hvac.set' });
    expect(JSON.parse(String(command!['data']))).toEqual({ mode: 'cool', setpoint: 22 });
  });

  it('does not send the same command again to an actuator already cooling', async () => {
    const commands = await collect(watcher, 'commands/hq/+/hvac');
    const correlation = (m: { json<T>(): T }) => m.json<{ correlationid: string }>().correlationid;
    const before = commands.messages.length;
    await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 32, id: 'r-32' }), { qos: 1 });
    await device.publishAsync('sensors/hq/f2/t2/temperature', JSON.stringify({ value: 31, id: 'r-f2' }), { qos: 1 });
    // The next command is f2's, published after the second hot reading in f1: f1 got none.
    expect((await commands.next((m) => correlation(m) === 'r-f2')).topic).toBe('commands/hq/f2/hvac');
    expect(commands.messages.slice(before).map(correlation)).toEqual(['r-f2']);
  });
});

describe('bad input', () => {
  it.each([
    ['sensors/hq/f1/t1/temperature', '{"value":"hot"}', 'invalid_payload', /value must be number/],
    ['sensors/hq/f1/t1/temperature', 'not json at all', 'invalid_json', /payload is not JSON/],
    ['sensors/hq/f1/temperature', '{"value":20}', 'invalid_topic', /5 segments/],
  ])('dead-letters %s with %s as %s, with a reason, and keeps serving', async (topic, payload, reason, detail) => {
    const letters = await collect(watcher, 'gateway/deadletter');
    await device.publishAsync(topic, payload, { qos: 1 });
    const letter = await letters.next((m) => m.json<{ payload: string }>().payload === payload);
    expect(letter.json()).toMatchObject({ topic, payload, reason, clientId: 't1' });
    expect(letter.json<{ detail: string }>().detail).toMatch(detail);
    expect(Number.isNaN(Date.parse(letter.json<{ receivedAt: string }>().receivedAt))).toBe(false);
    const stored = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT * FROM deadletters WHERE reason = '${reason}'`).then((r) => r.find((x) => x['payload'] === payload)), 'the dead letter in InfluxDB');
    expect(stored).toMatchObject({ topic, client_id: 't1' });
    // Still serving: a good reading goes through.
    await device.publishAsync('sensors/hq/f1/t1/humidity', '{"value":40}', { qos: 1 });
  });

  it('counts dead letters by reason in /metrics', async () => {
    const text = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    expect(text).toMatch(/gateway_deadletters_total\{reason="invalid_payload"\} [1-9]/);
    expect(text).toMatch(/gateway_deadletters_total\{reason="invalid_json"\} [1-9]/);
    expect(text).toMatch(/gateway_deadletters_total\{reason="invalid_topic"\} [1-9]/);
  });

  it('dead-letters an unknown topic and a reading from the future', async () => {
    const letters = await collect(watcher, 'gateway/deadletter');
    await device.publishAsync('lights/kitchen', 'on', { qos: 1 });
    await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 20, ts: Date.now() + 3_600_000 }), { qos: 1 });
    expect((await letters.next((m) => m.json<{ topic: string }>().topic === 'lights/kitchen')).json()).toMatchObject({ reason: 'unknown_topic' });
    expect((await letters.next((m) => m.json<{ reason: string }>().reason === 'clock_skew')).json<{ detail: string }>().detail).toMatch(/in the future/);
  });
});

describe('device status', () => {
  it('stores devices/<device>/status, including the last will when a device drops off', async () => {
    const sensor = await connect(gw.mqttUrl, { clientId: 'door-7', will: { topic: 'devices/door-7/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await sensor.publishAsync('devices/door-7/status', 'online', { qos: 1, retain: true });
    // Drop the connection without DISCONNECT: the broker publishes the will.
    sensor.stream.destroy();
    const statuses = await waitFor(
      () => rows(gw.influxUrl, gw.db, `SELECT online FROM device_status WHERE device = 'door-7'`).then((r) => (r.length >= 2 ? r : undefined)),
      'online and offline in device_status',
    );
    expect(statuses.map((s) => s['online'])).toEqual([true, false]);
    sensor.end(true);
  });
});

describe('MQTT over WebSocket', () => {
  it('takes readings on /mqtt like TCP does', async () => {
    const ws = await connect(gw.wsUrl, { clientId: 'ws-dev' });
    await ws.publishAsync('sensors/hq/f2/ws-dev/co2', JSON.stringify({ value: 800, id: 'ws-1' }), { qos: 1 });
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM co2 WHERE event_id = 'ws-1'`).then((r) => r.length === 1), 'the WebSocket reading in InfluxDB');
    await ws.endAsync();
  });

  it('agrees to the mqtt subprotocol only (a second outside tester got "chat" agreed to)', async () => {
    const opened = (protocols: string[]) =>
      new Promise<string | false>((resolve) => {
        const socket = new WebSocket(gw.wsUrl, protocols);
        socket.once('open', () => {
          resolve(socket.protocol);
          socket.close();
        });
        socket.once('error', () => resolve(false));
      });
    expect(await opened(['mqtt'])).toBe('mqtt');
    expect(await opened(['mqttv3.1'])).toBe('mqttv3.1');
    expect(await opened(['chat'])).toBe(false);
  });
});

describe('load', () => {
  it('stores exactly 10,000 readings from 100 simulated devices at QoS 1', async () => {
    const isolated = await startGateway();
    try {
      const summary = await runSimulation({ restore: false, url: isolated.mqttUrl, devices: 100, count: 10_000, rate: 0, qos: 1, prefix: 'load', seed: 7 });
      expect(summary).toMatchObject({ sent: 10_000, acknowledged: 10_000, failed: 0 });
      await waitFor(async () => (await countReadings(isolated.influxUrl, isolated.db)) >= 10_000, '10,000 readings in InfluxDB', 30_000);
      // Give a straggler time to show up, then count again: exactly, not at least.
      await new Promise((r) => setTimeout(r, 300));
      expect(await countReadings(isolated.influxUrl, isolated.db)).toBe(10_000);
    } finally {
      await isolated.stop();
    }
  });
});
