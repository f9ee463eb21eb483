/**
 * QoS 2 is exactly once in the store (MQTT 3.1.1 § 4.3.3, method A: the gateway stores a message
 * when its PUBLISH arrives, then knows its message id until PUBREL). A PUBLISH under an id not yet
 * released is the same message, whatever its DUP flag or payload [MQTT-4.3.3-2]; a message
 * refused over MQTT_MAX_INFLIGHT_QOS2 is not stored (its connection is closed, the client sends
 * it again). Both hold for a persistent session (clean=false) across the reconnect.
 *
 * Found by an outside tester: an mqtt.js burst of 50 stored 100 points (mqtt.js resends without
 * DUP after the reconnect the limit causes), a raw burst of 40 stored all 40 though the 33rd
 * closed the connection, and three payloads under one id before PUBREL stored three points.
 */
import type { MqttClient } from 'mqtt';
import { generate, type IPublishPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnectMqtt, type RawClient } from '../helpers/abuse.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const LIMIT = 32;
let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ env: { MQTT_MAX_INFLIGHT_QOS2: String(LIMIT) } });
});
afterAll(async () => {
  await gw?.stop();
});

/** Points stored on a site, by value: how many of each. */
async function pointsByValue(site: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const r of await rows(gw.influxUrl, gw.db, `SELECT value, event_id FROM temperature WHERE site = '${site}'`)) {
    const value = Number(r['value']);
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

/**
 * Everything published on the site before now is in InfluxDB: a last reading from another client
 * on the same series (the spool keeps them in order) is waited for.
 */
async function settled(site: string, marker: number): Promise<void> {
  const other = await connect(gw.mqttUrl, { clientId: `${site}-marker-${marker}` });
  await other.publishAsync(`sensors/${site}/z1/d1/temperature`, String(marker), { qos: 1 });
  await other.endAsync();
  await waitFor(async () => (await pointsByValue(site)).get(marker), `the marker ${marker} stored`);
}

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return Number(line?.split(' ')[1] ?? 0);
}

const publish = (site: string, value: number, messageId: number, dup = false): IPublishPacket => ({
  cmd: 'publish',
  topic: `sensors/${site}/z1/d1/temperature`,
  payload: Buffer.from(String(value)),
  qos: 2,
  messageId,
  retain: false,
  dup,
});

/** The PUBRECs a raw client got, by message id. */
const pubrecs = (client: RawClient): Set<number> => new Set(client.packets.filter((p) => p.cmd === 'pubrec').map((p) => p.messageId!));

describe('QoS 2 exactly once in the store', () => {
  it('stores each of a burst of 50 from mqtt.js (clean=false) once, across the reconnect MQTT_MAX_INFLIGHT_QOS2 causes', async () => {
    const site = 'q2burst';
    const refusedBefore = await metric('gateway_refusals_total', '{reason="inflight_qos2"}');
    const client: MqttClient = await connect(gw.mqttUrl, { clientId: 'q2burst', clean: false, reconnectPeriod: 100 });
    let connects = 1;
    client.on('connect', () => connects++);
    let completed = 0;
    const failures: Error[] = [];
    for (let i = 0; i < 50; i++) {
      client.publish(`sensors/${site}/z1/d1/temperature`, String(20 + i / 100), { qos: 2 }, (err) => (err ? failures.push(err) : completed++));
    }
    await waitFor(() => completed === 50, 'all 50 QoS 2 publishes completed', 30_000);
    await client.endAsync();
    expect(failures).toEqual([]);
    // The burst did go over the limit: the connection was closed and mqtt.js came back.
    expect(connects).toBeGreaterThanOrEqual(2);
    expect(await metric('gateway_refusals_total', '{reason="inflight_qos2"}')).toBeGreaterThan(refusedBefore);

    await settled(site, 99);
    const counts = await pointsByValue(site);
    counts.delete(99);
    expect(counts.size).toBe(50);
    expect([...counts].filter(([, n]) => n !== 1)).toEqual([]);
  });

  it('does not store a message refused over the limit; resent after the reconnect, each is stored once', async () => {
    const site = 'q2raw';
    const first = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: 'q2raw', clean: false });
    // 40 new messages in one socket write: the 33rd is over the limit and closes the connection.
    first.client.socket.write(Buffer.concat(Array.from({ length: 40 }, (_, i) => generate(publish(site, i + 1, i + 1)))));
    await first.client.closed;

    await settled(site, 90);
    const afterRefusal = await pointsByValue(site);
    afterRefusal.delete(90);
    // The 32 taken are stored, once each; the refused 33rd and what followed it are not.
    expect([...afterRefusal.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: LIMIT }, (_, i) => i + 1));
    expect([...afterRefusal.values()].every((n) => n === 1)).toBe(true);

    // A conforming client comes back (clean=false) and sends again, with DUP, what had no PUBREC.
    const again = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: 'q2raw', clean: false });
    const had = pubrecs(first.client);
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    // At most LIMIT unreleased at a time: the first LIMIT, released, then the rest.
    for (const batch of [ids.slice(0, LIMIT), ids.slice(LIMIT)]) {
      for (const id of batch) await again.client.send(had.has(id) ? { cmd: 'pubrel', messageId: id } : publish(site, id, id, true));
      await waitFor(() => batch.every((id) => had.has(id) || pubrecs(again.client).has(id)), `PUBRECs ${batch[0]}..${batch.at(-1)}`);
      for (const id of batch) if (!had.has(id)) await again.client.send({ cmd: 'pubrel', messageId: id });
      await waitFor(() => batch.every((id) => again.client.packets.some((p) => p.cmd === 'pubcomp' && p.messageId === id)), `PUBCOMPs ${batch[0]}..${batch.at(-1)}`);
    }
    again.client.destroy();

    await settled(site, 91);
    const counts = await pointsByValue(site);
    counts.delete(90);
    counts.delete(91);
    expect(counts.size).toBe(40);
    expect([...counts].filter(([, n]) => n !== 1)).toEqual([]);
  });

  it('takes a message id not yet released once, whatever is sent under it again before PUBREL [MQTT-4.3.3-2]', async () => {
    const site = 'q2same';
    const duplicatesBefore = await metric('gateway_duplicates_total');
    const { client } = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: 'q2same', clean: true });
    await client.send(publish(site, 11, 7));
    await client.send(publish(site, 12, 7, true));
    await client.send(publish(site, 13, 7));
    await waitFor(() => client.packets.filter((p) => p.cmd === 'pubrec').length === 3, 'three PUBRECs');
    await client.send({ cmd: 'pubrel', messageId: 7 });
    await client.next((p) => p.cmd === 'pubcomp' && p.messageId === 7, 'PUBCOMP 7');
    // Released: the id is free again, for a new message.
    await client.send(publish(site, 14, 7));
    await waitFor(() => client.packets.filter((p) => p.cmd === 'pubrec').length === 4, 'the fourth PUBREC');
    await client.send({ cmd: 'pubrel', messageId: 7 });
    await waitFor(() => client.packets.filter((p) => p.cmd === 'pubcomp').length === 2, 'the second PUBCOMP');
    client.destroy();

    await settled(site, 92);
    expect(Object.fromEntries(await pointsByValue(site))).toEqual({ 11: 1, 14: 1, 92: 1 });
    expect(await metric('gateway_duplicates_total')).toBe(duplicatesBefore + 2);
  });

  it('still takes a QoS 2 will (no message id: not the PUBLISH handshake) when its connection is lost', async () => {
    const site = 'q2will';
    const device = await connect(gw.mqttUrl, { clientId: 'q2will', will: { topic: `sensors/${site}/z1/d1/temperature`, payload: Buffer.from('33'), qos: 2, retain: false } });
    device.stream.destroy();
    await settled(site, 93);
    expect(Object.fromEntries(await pointsByValue(site))).toEqual({ 33: 1, 93: 1 });
    device.end(true);
  });
});
