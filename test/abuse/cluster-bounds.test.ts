/**
 * Issue 15's bounds on a cluster node (REDIS_URL: sessions in Redis, broker/cluster-persistence.ts):
 * what the README says holds there, checked against the node and against Redis itself.
 *
 * - an offline queue holds at most MQTT_MAX_QUEUED_MESSAGES (the oldest dropped, counted), in Redis;
 * - a refused filter is not stored for a persistent session (only granted filters reach Redis);
 * - unreleased QoS 2 stay within MQTT_MAX_INFLIGHT_QOS2 (the connection is closed past it);
 * - /api/cluster, like every /api route, asks for credentials once HTTP does.
 */
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { rawConnectMqtt, startGatewayProcess, type GatewayUnderTest } from '../helpers/abuse.js';
import { subscribeCodes } from '../helpers/auth.js';
import { connect } from '../helpers/mqtt.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

let gw: GatewayUnderTest | undefined;
let redis: TestRedis | undefined;
let probe: Redis | undefined;
const open: mqtt.MqttClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  await gw?.stop();
  probe?.disconnect();
  await redis?.stop();
  gw = undefined;
  redis = undefined;
});

describe('issue 15\'s bounds on a cluster node', () => {
  it('bounds offline queues in Redis, stores only granted filters, bounds unreleased QoS 2, and asks for credentials on /api/cluster', { timeout: 90_000 }, async () => {
    redis = await startRedis();
    probe = new Redis(redis.url);
    probe.on('error', () => undefined);
    gw = await startGatewayProcess({
      credentials: [
        { name: 'obs', role: 'observer' },
        { name: 'ops', role: 'admin' },
        { name: 't-a', role: 'device', device: 't-a', site: 'hq', zone: 'f1' },
        { name: 't-q2', role: 'device', device: 't-q2', site: 'hq', zone: 'f1' },
      ],
      env: { REDIS_URL: redis.url, NODE_ID: 'bounded', PARTITIONS: '4', LEASE_MS: '2000', PUBLISH_RATE: '0', MQTT_MAX_QUEUED_MESSAGES: '5', MQTT_MAX_INFLIGHT_QOS2: '3', HTTP_AUTH: 'true' },
    });
    const node = gw;
    const as = async (name: string, clean = true): Promise<mqtt.MqttClient> => {
      const c = await connect(node.mqttUrl, { username: name, password: node.secrets[name], clientId: name, clean });
      open.push(c);
      return c;
    };

    // Offline queue: 20 readings for an absent persistent subscriber, 5 kept (the newest), 15 dropped and counted.
    const obs = await as('obs', false);
    await obs.subscribeAsync('sensors/#', { qos: 1 });
    await obs.endAsync();
    const ops = await as('ops');
    for (let i = 0; i < 20; i++) await ops.publishAsync(`sensors/hq/f1/d-${i}/temperature`, JSON.stringify({ value: 20, id: `q-${i}` }), { qos: 1 });
    // Queued after the PUBACK: wait for the last one's enqueue (and trim).
    await waitFor(async () => (await node.metric('gateway_offline_dropped_total')) === 15, '15 of 20 dropped and counted');
    expect(await probe.llen('outgoing:obs')).toBe(5);
    const ids: string[] = [];
    const back = mqtt.connect(node.mqttUrl, { username: 'obs', password: node.secrets['obs'], clientId: 'obs', clean: false, reconnectPeriod: 0 });
    open.push(back);
    back.on('message', (_topic, payload) => ids.push((JSON.parse(payload.toString()) as { id: string }).id));
    await waitFor(() => ids.includes('q-19'), 'the newest reading for the returning subscriber');
    expect(ids.filter((id) => id.startsWith('q-')).sort()).toEqual(['q-15', 'q-16', 'q-17', 'q-18', 'q-19']);

    // Granted filters only: the refused one never reaches Redis.
    const device = await as('t-a', false);
    expect(await subscribeCodes(device, ['commands/hq/f1/#', 'sensors/#'])).toEqual([1, 128]);
    expect(Object.keys(await probe.hgetall('client:t-a'))).toEqual(['commands/hq/f1/#']);

    // Unreleased QoS 2: the fourth without PUBREL closes the connection.
    const { client, returnCode } = await rawConnectMqtt(node.ports.mqtt, { clientId: 't-q2', clean: false, username: 't-q2', password: node.secrets['t-q2']! });
    expect(returnCode).toBe(0);
    const publish = (messageId: number) => client.send({ cmd: 'publish', topic: 'sensors/hq/f1/t-q2/temperature', payload: Buffer.from(JSON.stringify({ value: 21, id: `q2-${messageId}` })), qos: 2, messageId, retain: false, dup: false });
    for (let id = 1; id <= 3; id++) await publish(id);
    // Each PUBREC waits for the spool's commit: all three are held, unreleased.
    await client.next((p) => p.cmd === 'pubrec' && (p as { messageId?: number }).messageId === 3, 'the third PUBREC');
    expect(await node.metric('gateway_inflight_qos2_messages')).toBe(3);
    await publish(4);
    await client.closed;
    expect(client.packets.filter((p) => p.cmd === 'pubrec').map((p) => (p as { messageId?: number }).messageId)).toEqual([1, 2, 3]);
    expect(await node.metric('gateway_inflight_qos2_messages')).toBeLessThanOrEqual(3);

    // /api/cluster asks for credentials, and answers an admin.
    expect((await fetch(`${node.httpUrl}/api/cluster`)).status).toBe(401);
    const auth = { authorization: `Basic ${Buffer.from(`ops:${node.secrets['ops']}`).toString('base64')}` };
    const res = await fetch(`${node.httpUrl}/api/cluster`, { headers: auth });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { node: string }).node).toBe('bounded');
  });
});
