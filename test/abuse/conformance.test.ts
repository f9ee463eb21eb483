/**
 * Issue 15, situation 10 — MQTT 3.1.1 conformance (found by the Eclipse Paho interoperability
 * suite; bare Aedes 1.2 does the same), with raw packets:
 *
 * - [MQTT-3.1.3-8]: a client that sends an empty client id with CleanSession 0 must be answered
 *   CONNACK 2 (identifier rejected) and the connection closed. Aedes (lib/handlers/connect.js,
 *   init) makes up an id (`aedes_<uuid>`) whatever the clean flag, and accepts.
 * - [MQTT-3.8.4-6], [MQTT-3.3.5-1]: a message is delivered at the lower of its QoS and the QoS
 *   granted to the matching subscription. Aedes (lib/client.js, deliverQoS) looks the granted
 *   QoS up by the message's topic name (`subscriptions[packet.topic]`), which finds only an
 *   exact-topic subscription: through a wildcard filter granted QoS 1, a QoS 2 message arrives
 *   at QoS 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { rawConnectMqtt, rawSubscribe, type RawClient } from '../helpers/abuse.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';

let gw: TestGateway;
const raws: RawClient[] = [];
beforeAll(async () => {
  // No credentials, loopback: anonymous clients may connect, as in the conformance suite.
  gw = await startGateway();
});
afterAll(async () => {
  for (const r of raws) r.destroy();
  await gw?.stop();
});

describe('MQTT 3.1.1 conformance', () => {
  it('refuses an empty client id with clean session 0: CONNACK 2, then closes [MQTT-3.1.3-8]', async () => {
    const { client, returnCode, sessionPresent } = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: '', clean: false });
    raws.push(client);
    expect(returnCode).toBe(2);
    expect(sessionPresent).toBe(false);
    await client.closed;
  });

  it('still accepts an empty client id with clean session 1 (the server assigns one)', async () => {
    const { client, returnCode } = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: '', clean: true });
    raws.push(client);
    expect(returnCode).toBe(0);
  });

  it.each([
    ['a wildcard filter', 'sensors/hq/conf/#'],
    ['an exact topic', 'sensors/hq/conf/c-1/temperature'],
  ])('delivers a QoS 2 message at QoS 1 through %s granted QoS 1 [MQTT-3.8.4-6]', async (_what, filter) => {
    const { client: sub, returnCode } = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: `conf-sub-${raws.length}` });
    raws.push(sub);
    expect(returnCode).toBe(0);
    expect(await rawSubscribe(sub, [filter], 1, 1)).toEqual([1]);

    const publisher = await connect(gw.mqttUrl, { clientId: `conf-pub-${raws.length}` });
    const id = `qos2-via-${raws.length}`;
    await publisher.publishAsync('sensors/hq/conf/c-1/temperature', JSON.stringify({ value: 21, id }), { qos: 2 });
    await publisher.endAsync();

    const delivered = await sub.next<IPublishPacket>((p) => p.cmd === 'publish' && String(p.payload).includes(id), 'the message');
    expect(delivered.qos).toBe(1);
  });
});
