/**
 * Exactly once in the store, at most once in the rules: a QoS 1 redelivery (DUP) or a resend
 * with the same id neither fires rules again nor makes a second point; a point InfluxDB refuses
 * as bad becomes a dead letter instead of being retried forever.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { count, rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw?.stop();
});

/** A bare MQTT 3.1.1 client on a socket: full control over message ids and the DUP flag. */
async function rawClient(port: number, clientId: string): Promise<{ socket: Socket; send(p: Packet): void; next(cmd: string): Promise<Packet> }> {
  const socket = netConnect(port, '127.0.0.1');
  const parser = mqttParser();
  const packets: Packet[] = [];
  const waiters: { cmd: string; resolve: (p: Packet) => void }[] = [];
  parser.on('packet', (p: Packet) => {
    const w = waiters.findIndex((x) => x.cmd === p.cmd);
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(p);
    else packets.push(p);
  });
  socket.on('data', (d) => parser.parse(d));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const client = {
    socket,
    send: (p: Packet) => socket.write(generate(p)),
    next: (cmd: string) => {
      const i = packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return Promise.resolve(packets.splice(i, 1)[0]!);
      return new Promise<Packet>((resolve, reject) => {
        waiters.push({ cmd, resolve });
        setTimeout(() => reject(new Error(`no ${cmd} within 5 s`)), 5000).unref();
      });
    },
  };
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 });
  await client.next('connack');
  return client;
}

describe('duplicates', () => {
  it('a QoS 1 redelivery (same message id, DUP set) is acknowledged but neither stored twice nor ruled twice', async () => {
    const watcher = await connect(gw.mqttUrl);
    const hvac = await collect(watcher, 'commands/dup/+/hvac');
    const raw = await rawClient(gw.running.ports.mqtt, 'dup-device');
    // No id and no ts: only the packet identity can tell the redelivery apart.
    const publish = { cmd: 'publish', topic: 'sensors/dup/z1/t1/temperature', payload: Buffer.from('{"value":30}'), qos: 1, messageId: 7, retain: false } as const;
    raw.send({ ...publish, dup: false });
    expect(await raw.next('puback')).toMatchObject({ messageId: 7 });
    raw.send({ ...publish, dup: true });
    expect(await raw.next('puback')).toMatchObject({ messageId: 7 });
    // Readings are ruled in order: once z2's command arrives, the redelivery has been through.
    raw.send({ cmd: 'publish', topic: 'sensors/dup/z2/t2/temperature', payload: Buffer.from('{"value":30}'), qos: 1, messageId: 8, retain: false, dup: false });
    await raw.next('puback');
    await hvac.next((m) => m.topic === 'commands/dup/z2/hvac');
    expect(hvac.messages.map((m) => m.topic)).toEqual(['commands/dup/z1/hvac', 'commands/dup/z2/hvac']);
    await waitFor(async () => (await count(gw.influxUrl, gw.db, 'temperature')) >= 2, 'both readings stored');
    expect(await count(gw.influxUrl, gw.db, 'temperature')).toBe(2);
    expect(await (await fetch(`${gw.httpUrl}/metrics`)).text()).toMatch(/^gateway_duplicates_total 1$/m);
    raw.socket.destroy();
    await watcher.endAsync();
  });

  it('a message id reused for a new reading (no DUP flag) is a new reading', async () => {
    const raw = await rawClient(gw.running.ports.mqtt, 'reuse-device');
    for (const value of [10, 11]) {
      raw.send({ cmd: 'publish', topic: 'sensors/reuse/z1/t1/humidity', payload: Buffer.from(`{"value":${value}}`), qos: 1, messageId: 1, retain: false, dup: false });
      await raw.next('puback');
    }
    await waitFor(async () => (await count(gw.influxUrl, gw.db, 'humidity')) >= 2, 'both humidity readings');
    expect((await rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE site = 'reuse'`)).map((r) => r['value'])).toEqual([10, 11]);
    raw.socket.destroy();
  });

  it('a resend with the same id (a device retrying after a reconnect) yields one point and one command', async () => {
    const device = await connect(gw.mqttUrl, { clientId: 'resend-device' });
    const watcher = await connect(gw.mqttUrl);
    const hvac = await collect(watcher, 'commands/resend/+/hvac');
    const reading = JSON.stringify({ value: 15, id: 'same-id-1' });
    await device.publishAsync('sensors/resend/z1/t1/temperature', reading, { qos: 1 });
    await device.publishAsync('sensors/resend/z1/t1/temperature', reading, { qos: 1 });
    await device.publishAsync('sensors/resend/z2/t2/temperature', JSON.stringify({ value: 30, id: 'same-id-2' }), { qos: 1 });
    await hvac.next((m) => m.json<{ correlationid: string }>().correlationid === 'same-id-2');
    expect(hvac.messages.map((m) => m.json<{ correlationid: string }>().correlationid)).toEqual(['same-id-1', 'same-id-2']);
    await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT event_id FROM temperature WHERE site = 'resend'`)).length === 2, 'two points');
    await device.endAsync();
    await watcher.endAsync();
  });
});

describe('a point InfluxDB refuses', () => {
  it('is dead-lettered with reason rejected_by_store while the rest of its batch is stored', async () => {
    const db = gw.db;
    // Make `power.value` a string field in this shard: a float write to it is then a 400 "field type conflict".
    const now = Date.now();
    const res = await fetch(`${gw.influxUrl}/write?db=${db}&precision=ms`, { method: 'POST', body: `power,device=x,site=conflict,zone=z value="not a number" ${now - 1000}\n` });
    expect(res.status).toBe(204);
    const device = await connect(gw.mqttUrl, { clientId: 'conflict-device' });
    await device.publishAsync('sensors/conflict/z1/m1/power', JSON.stringify({ value: 1200, id: 'refused-1', ts: now }), { qos: 1 });
    await device.publishAsync('sensors/conflict/z1/h1/humidity', JSON.stringify({ value: 41, id: 'kept-1', ts: now }), { qos: 1 });
    const letter = await waitFor(
      () => rows(gw.influxUrl, db, `SELECT * FROM deadletters WHERE reason = 'rejected_by_store'`).then((r) => r[0]),
      'the refused point in deadletters',
    );
    expect(String(letter['payload'])).toContain('event_id="refused-1"');
    expect(String(letter['detail'])).toMatch(/field type conflict/);
    expect(await rows(gw.influxUrl, db, `SELECT value FROM humidity WHERE event_id = 'kept-1'`)).toHaveLength(1);
    expect(await (await fetch(`${gw.httpUrl}/metrics`)).text()).toMatch(/gateway_deadletters_total\{reason="rejected_by_store"\} 1/);
    await device.endAsync();
  });
});
