/**
 * The broker's limits against real sockets: packet size, payload size, topic length and depth,
 * connections and publish rate. Each refusal is counted in /metrics and logged with its reason,
 * and the gateway keeps serving everyone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { count, rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { connectOutcome, metric, publishExpectingDisconnect, subscribeCodes } from '../helpers/auth.js';
import { connectPacket, publishPacket, rawConnect, varint } from '../helpers/raw-mqtt.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ env: { PUBLISH_RATE: '200', PUBLISH_BURST: '20' } });
});
afterAll(async () => {
  await gw?.stop();
});

/** A good reading still goes all the way to InfluxDB. */
async function stillServes(id: string): Promise<void> {
  const client = await connect(gw.mqttUrl, { clientId: `probe-${id}` });
  await client.publishAsync('sensors/hq/lim/probe/humidity', JSON.stringify({ value: 50, id }), { qos: 1 });
  await client.endAsync();
  await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE event_id = '${id}'`).then((r) => r.length === 1), `${id} in InfluxDB`);
}

describe('packet and payload size', () => {
  it('closes a connection as soon as a packet header declares more than MAX_PACKET_BYTES, before the body arrives', async () => {
    const raw = await rawConnect(gw.running.ports.mqtt);
    await raw.write(connectPacket('big-sender'));
    await raw.waitFor(4); // CONNACK
    // Declares 100 MiB, sends a little of it: the broker must not wait for (or buffer) the rest.
    await raw.write(Buffer.concat([Buffer.from([0x30]), varint(100 * 1024 * 1024), Buffer.alloc(1024, 0x61)]));
    await raw.closed;
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'packet_too_large' })).toBe(1);
    expect(gw.logs.find((l) => l['reason'] === 'packet_too_large')).toMatchObject({ code: 'GW_ERR_LIMIT', detail: 'packet of 104857600 bytes, the limit is 262144 (MAX_PACKET_BYTES)' });
    await stillServes('after-big-packet');
  });

  it('closes a WebSocket connection the same way, and one whose single message exceeds the limit', async () => {
    const before = await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'packet_too_large' });
    for (const message of [Buffer.concat([Buffer.from([0x30]), varint(100 * 1024 * 1024)]), Buffer.concat([Buffer.from([0x30]), varint(300_000), Buffer.alloc(300_000)])]) {
      const ws = new WebSocket(gw.wsUrl, ['mqtt']);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.send(connectPacket('ws-big'));
      ws.send(message);
      await closed;
    }
    // The first is seen from its header; the second is refused by the WebSocket layer (maxPayload) before MQTT sees it.
    await waitFor(async () => (await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'packet_too_large' })) === before + 2, 'both refusals counted');
    await stillServes('after-big-ws');
  });

  it('dead-letters a payload over MAX_PAYLOAD_BYTES (64 KiB) as payload_too_large, keeping the connection', async () => {
    const client = await connect(gw.mqttUrl, { clientId: 'large-payload' });
    await client.publishAsync('sensors/hq/lim/large-payload/temperature', JSON.stringify({ value: 20, pad: 'x'.repeat(70_000) }), { qos: 1 });
    const [letter] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT detail, client_id FROM deadletters WHERE reason = 'payload_too_large'`).then((r) => (r.length ? r : undefined)), 'the dead letter');
    expect(letter).toMatchObject({ client_id: 'large-payload', detail: expect.stringMatching(/^payload is 700\d\d bytes, the limit is 65536$/) });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });
});

describe('topics', () => {
  it('refuses a publish to a topic longer than MAX_TOPIC_LENGTH or deeper than MAX_TOPIC_LEVELS', async () => {
    await publishExpectingDisconnect(await connect(gw.mqttUrl, { clientId: 'long-topic' }), `sensors/${'a'.repeat(600)}`, '{"value":1}');
    await publishExpectingDisconnect(await connect(gw.mqttUrl, { clientId: 'deep-topic' }), 'sensors/a/b/c/d/e/f/g/h/i', '{"value":1}');
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'topic_too_long' })).toBe(1);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'topic_too_deep' })).toBe(1);
    expect(gw.logs.find((l) => l['reason'] === 'topic_too_deep')).toMatchObject({ clientId: 'deep-topic', detail: 'topic has 10 levels, the limit is 8 (MAX_TOPIC_LEVELS)' });
    await stillServes('after-topics');
  });

  it('refuses such a subscription with SUBACK 0x80 and keeps the client', async () => {
    const client = await connect(gw.mqttUrl, { clientId: 'deep-sub' });
    expect(await subscribeCodes(client, [`${'x/'.repeat(20)}#`, `sensors/${'b'.repeat(600)}`, 'sensors/#'])).toEqual([128, 128, 1]);
    expect(client.connected).toBe(true);
    await client.endAsync();
  });
});

describe('publish rate', () => {
  it('slows a client publishing faster than PUBLISH_RATE and stores every message (nothing dropped)', async () => {
    const client = await connect(gw.mqttUrl, { clientId: 'fast' });
    const before = await metric(gw.httpUrl, 'gateway_throttled_publishes_total');
    for (let i = 0; i < 300; i++) client.publish('sensors/hq/rate/fast/power', JSON.stringify({ value: i, id: `fast-${i}` }), { qos: 0 });
    await client.publishAsync('sensors/hq/rate/fast/power', JSON.stringify({ value: 300, id: 'fast-300' }), { qos: 1 });
    await client.endAsync();
    await waitFor(async () => (await count(gw.influxUrl, gw.db, 'power')) >= 301, '301 readings in InfluxDB', 20_000);
    expect(await count(gw.influxUrl, gw.db, 'power')).toBe(301);
    expect(await metric(gw.httpUrl, 'gateway_throttled_publishes_total')).toBeGreaterThan(before);
    expect(gw.logs.find((l) => l['reason'] === 'publish_rate')).toMatchObject({ code: 'GW_ERR_LIMIT', clientId: 'fast', rate: 200 });
  });
});

describe('connections', () => {
  // MAX_CONNECTIONS counts authenticated clients (issue 15): one more is answered CONNACK 3 (server unavailable), not closed unanswered.
  it('refuses clients beyond MAX_CONNECTIONS with CONNACK 3, and takes new ones once some close', async () => {
    const small = await startGateway({ env: { MAX_CONNECTIONS: '3' } });
    const clients: MqttClient[] = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(await connect(small.mqttUrl, { clientId: `c${i}` }));
      expect(await connectOutcome(small.mqttUrl, { clientId: 'one-too-many' })).toMatchObject({ connected: false, code: 3 });
      expect(await metric(small.httpUrl, 'gateway_refusals_total', { reason: 'max_connections' })).toBe(1);
      expect(small.logs.find((l) => l['reason'] === 'max_connections')).toMatchObject({ code: 'GW_ERR_LIMIT', detail: '3 clients connected, the limit is 3 (MAX_CONNECTIONS)' });
      await clients.pop()!.endAsync();
      await waitFor(async () => (await connectOutcome(small.mqttUrl, { clientId: 'next' })).connected, 'a connection once one closed');
    } finally {
      await Promise.all(clients.map((c) => c.endAsync()));
      await small.stop();
    }
  });
});

describe('raw publish through the packet guard', () => {
  it('passes well-formed packets split at every byte boundary', async () => {
    const raw = await rawConnect(gw.running.ports.mqtt);
    const bytes = Buffer.concat([connectPacket('dribbler'), publishPacket('sensors/hq/lim/dribbler/co2', JSON.stringify({ value: 600, id: 'dribbled' }), 1, 7)]);
    for (const byte of bytes) await raw.write(Buffer.from([byte]));
    const acks = await raw.waitFor(8); // CONNACK (4) + PUBACK (4)
    expect([...acks.subarray(4, 8)]).toEqual([0x40, 0x02, 0x00, 0x07]);
    raw.socket.end();
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM co2 WHERE event_id = 'dribbled'`).then((r) => r.length === 1), 'the dribbled reading');
  });

  it('caps connections not yet authenticated per address (MQTT_MAX_PENDING_PER_ADDRESS): one more socket is closed at once, counted', async () => {
    const small = await startGateway({ env: { MQTT_MAX_PENDING_PER_ADDRESS: '3' } });
    const idle = [];
    try {
      for (let i = 0; i < 3; i++) idle.push(await rawConnect(small.running.ports.mqtt));
      await waitFor(async () => (await metric(small.httpUrl, 'gateway_pending_connections')) === 3, 'three pending connections');
      const extra = await rawConnect(small.running.ports.mqtt);
      await extra.closed;
      expect(await metric(small.httpUrl, 'gateway_refusals_total', { reason: 'pending_connections' })).toBe(1);
      expect(small.logs.find((l) => l['reason'] === 'pending_connections')).toMatchObject({ code: 'GW_ERR_LIMIT', detail: '3 connections from 127.0.0.1 not yet authenticated, the limit is 3 (MQTT_MAX_PENDING_PER_ADDRESS)' });
      // Once one of them goes, a client gets in, and once authenticated it no longer counts as pending.
      idle.pop()!.socket.destroy();
      await waitFor(async () => (await connectOutcome(small.mqttUrl, { clientId: 'after-idle' })).connected, 'a connection once an idle one closed');
      const client = await connect(small.mqttUrl, { clientId: 'after-idle' });
      expect(await metric(small.httpUrl, 'gateway_pending_connections')).toBe(2);
      await client.endAsync();
    } finally {
      for (const c of idle) c.socket.destroy();
      await small.stop();
    }
  });

  it('refuses a filter beyond MQTT_MAX_SUBSCRIPTIONS (SUBACK 0x80, the client stays) and takes it once another is unsubscribed', async () => {
    // The anonymous client is an admin here, held to MQTT_MAX_SUBSCRIPTIONS_MANY; a device to MQTT_MAX_SUBSCRIPTIONS (test/e2e/subscriptions-many.test.ts).
    const small = await startGateway({ env: { MQTT_MAX_SUBSCRIPTIONS_MANY: '2' } });
    try {
      const client = await connect(small.mqttUrl, { clientId: 'subs' });
      expect(await subscribeCodes(client, ['a/#', 'b/#'])).toEqual([1, 1]);
      // Subscribed again: no new place taken.
      expect(await subscribeCodes(client, ['a/#'])).toEqual([1]);
      expect(await subscribeCodes(client, ['c/#'])).toEqual([128]);
      await client.unsubscribeAsync('a/#');
      expect(await subscribeCodes(client, ['c/#'])).toEqual([1]);
      expect(client.connected).toBe(true);
      expect(await metric(small.httpUrl, 'gateway_refusals_total', { reason: 'too_many_subscriptions' })).toBe(1);
      await client.endAsync();
    } finally {
      await small.stop();
    }
  });
});
