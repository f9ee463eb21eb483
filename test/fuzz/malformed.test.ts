/**
 * Malformed MQTT written straight to TCP sockets (hand-picked cases, then fast-check garbage and
 * mutated packets): each bad connection is closed, counted, and the broker keeps serving a
 * well-behaved client connected all along.
 */
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { metric } from '../helpers/auth.js';
import { DISCONNECT, connectPacket, publishPacket, rawConnect, varint } from '../helpers/raw-mqtt.js';

let gw: TestGateway;
let healthy: MqttClient;
let probes = 0;

beforeAll(async () => {
  gw = await startGateway();
  healthy = await connect(gw.mqttUrl, { clientId: 'healthy' });
});
afterAll(async () => {
  await healthy?.endAsync();
  await gw?.stop();
});

/** The long-lived client still publishes, is acknowledged, receives, and its reading is stored. */
async function brokerServes(): Promise<void> {
  const id = `probe-${probes++}`;
  const letters = await collect(healthy, 'gateway/deadletter');
  await healthy.publishAsync('sensors/hq/fz/healthy/temperature', JSON.stringify({ value: 21, id }), { qos: 1 });
  await healthy.publishAsync('sensors/hq/fz/healthy/temperature', `not json ${id}`, { qos: 1 });
  await letters.next((m) => m.payload.includes(id));
  await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE event_id = '${id}'`).then((r) => r.length === 1), `${id} stored`);
}

/** Writes bytes on a fresh connection, half-closes it, and waits for the broker to close its side. */
async function sendRaw(bytes: Buffer): Promise<void> {
  const raw = await rawConnect(gw.running.ports.mqtt);
  await raw.write(bytes);
  raw.socket.end();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([raw.closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`broker kept a connection open after ${bytes.toString('hex').slice(0, 80)}`)), 5000)))]);
  clearTimeout(timer);
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const packet = (first: number, body: Buffer) => Buffer.concat([Buffer.from([first]), varint(body.length), body]);
const CONNECT = connectPacket('raw');

const CASES: [string, Buffer][] = [
  ['garbage before CONNECT', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
  ['PUBLISH before CONNECT', publishPacket('sensors/hq/fz/raw/temperature', '{"value":1}')],
  ['SUBSCRIBE before CONNECT', packet(0x82, Buffer.concat([u16(1), u16(1), Buffer.from('#'), Buffer.from([0])]))],
  ['CONNECT twice', Buffer.concat([CONNECT, CONNECT])],
  ['CONNECT with protocol level 5', Buffer.concat([Buffer.from([0x10, 0x0d]), u16(4), Buffer.from('MQTT'), Buffer.from([5, 0x02, 0, 60]), u16(1), Buffer.from('x')])],
  ['CONNECT with protocol name "MQTX"', Buffer.concat([Buffer.from([0x10, 0x0d]), u16(4), Buffer.from('MQTX'), Buffer.from([4, 0x02, 0, 60]), u16(1), Buffer.from('x')])],
  ['CONNECT with reserved flag bit', Buffer.concat([Buffer.from([0x10, 0x0d]), u16(4), Buffer.from('MQTT'), Buffer.from([4, 0x03, 0, 60]), u16(1), Buffer.from('x')])],
  ['CONNECT with a password but no username', Buffer.concat([Buffer.from([0x10, 0x10]), u16(4), Buffer.from('MQTT'), Buffer.from([4, 0x42, 0, 60]), u16(1), Buffer.from('x'), u16(1), Buffer.from('p')])],
  ['CONNECT with will QoS 3', Buffer.concat([Buffer.from([0x10, 0x0d]), u16(4), Buffer.from('MQTT'), Buffer.from([4, 0x1e, 0, 60]), u16(1), Buffer.from('x')])],
  ['CONNECT whose lengths overrun the packet', Buffer.concat([Buffer.from([0x10, 0x0c]), u16(4), Buffer.from('MQTT'), Buffer.from([4, 0x02, 0, 60]), u16(500)])],
  ['remaining length of five bytes', Buffer.concat([CONNECT, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])])],
  ['PUBLISH with QoS 3', Buffer.concat([CONNECT, packet(0x36, Buffer.concat([u16(1), Buffer.from('a'), u16(1)]))])],
  ['PUBLISH with an empty topic', Buffer.concat([CONNECT, packet(0x30, Buffer.concat([u16(0), Buffer.from('{}')]))])],
  ['PUBLISH to a wildcard topic', Buffer.concat([CONNECT, publishPacket('sensors/#', '{"value":1}')])],
  ['PUBLISH with an invalid UTF-8 topic', Buffer.concat([CONNECT, packet(0x30, Buffer.concat([u16(3), Buffer.from([0x61, 0xff, 0xfe]), Buffer.from('1')]))])],
  ['PUBLISH whose topic length overruns the packet', Buffer.concat([CONNECT, packet(0x30, Buffer.concat([u16(200), Buffer.from('abc')]))])],
  ['PUBLISH to $SYS', Buffer.concat([CONNECT, publishPacket('$SYS/broker/uptime', '1', 1)])],
  ['SUBSCRIBE with QoS 3', Buffer.concat([CONNECT, packet(0x82, Buffer.concat([u16(1), u16(1), Buffer.from('#'), Buffer.from([3])]))])],
  ['SUBSCRIBE with wrong header flags', Buffer.concat([CONNECT, packet(0x80, Buffer.concat([u16(1), u16(1), Buffer.from('#'), Buffer.from([0])]))])],
  ['SUBSCRIBE with no topics', Buffer.concat([CONNECT, packet(0x82, u16(1))])],
  ['packet type 0 (reserved)', Buffer.concat([CONNECT, Buffer.from([0x00, 0x00])])],
  ['packet type 15 (reserved in 3.1.1)', Buffer.concat([CONNECT, Buffer.from([0xf0, 0x00])])],
  ['PINGREQ with a body', Buffer.concat([CONNECT, Buffer.from([0xc0, 0x02, 0x00, 0x00])])],
  ['PUBACK for a message never sent', Buffer.concat([CONNECT, Buffer.from([0x40, 0x02, 0x12, 0x34])])],
  ['PUBREL storm', Buffer.concat([CONNECT, ...Array.from({ length: 500 }, (_, i) => Buffer.from([0x62, 0x02, i >> 8, i & 0xff]))])],
  ['a client id of 60,000 bytes', connectPacket('c'.repeat(60_000))],
  ['a half packet, then silence', Buffer.concat([CONNECT, publishPacket('sensors/hq/fz/raw/temperature', '{"value":1}').subarray(0, 6)])],
];

describe('malformed MQTT on a raw socket', () => {
  it.each(CASES)('%s: the connection ends, the broker serves on', async (_name, bytes) => {
    await sendRaw(bytes);
    await brokerServes();
  });

  it('survives 400 fast-check cases of garbage and mutated packets, serving the healthy client throughout', async () => {
    const valid = fc.constantFrom(
      publishPacket('sensors/hq/fz/raw/temperature', '{"value":20}', 1, 9),
      packet(0x82, Buffer.concat([u16(2), u16(9), Buffer.from('commands/#'), Buffer.from([1])])),
      Buffer.from([0xc0, 0x00]),
      DISCONNECT,
    );
    const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([p, flips]) => {
      const copy = Buffer.from(p);
      for (const [at, byte] of flips) copy[at % copy.length] = byte;
      return copy;
    });
    const bytes = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([CONNECT, Buffer.from(b)])),
      fc.array(fc.oneof(valid, mutated), { minLength: 1, maxLength: 5 }).map((parts) => Buffer.concat([CONNECT, ...parts])),
      // A valid fixed header claiming a length, followed by fewer (or more) bytes than it claims.
      fc.tuple(fc.integer({ min: 1, max: 15 }), fc.integer({ min: 0, max: 300_000 }), fc.uint8Array({ maxLength: 100 })).map(([type, len, body]) => Buffer.concat([CONNECT, Buffer.from([type << 4]), varint(len), Buffer.from(body)])),
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        await sendRaw(b);
        if (++runs % 50 === 0) await brokerServes();
      }),
      { numRuns: 400 },
    );
    await brokerServes();
    expect(healthy.connected).toBe(true);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'protocol_error' })).toBeGreaterThan(0);
    expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
  }, 120_000);
});
