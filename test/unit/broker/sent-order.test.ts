/**
 * A retained QoS 0 message followed at once by another from the same client (Tasmota on connect:
 * `tele/<t>/LWT` `Online` retained, then `cmnd/<t>/POWER`, INFO1..3) reaches a live subscriber
 * to both (gateway/broker/sent-order.ts; moscajs/aedes#994), on a real Aedes socket; in a cluster
 * (the retained store in a real redis-server) on the publisher's node and on another.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttBroker } from '../../../gateway/broker/broker.js';
import { createClusterBus } from '../../../gateway/broker/cluster-bus.js';
import { ClusterPersistence } from '../../../gateway/broker/cluster-persistence.js';
import { MemoryPersistence } from '../../../gateway/broker/memory-store.js';
import { startRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const log = pino({ level: 'silent' });

async function brokerWith(persistence?: unknown, cluster?: ConstructorParameters<typeof MqttBroker>[0]['cluster']): Promise<string> {
  const broker = new MqttBroker({ log, host: '127.0.0.1', mqttPort: 0, wsPort: 0, hooks: {}, ...(persistence ? { persistence } : {}), ...(cluster ? { cluster } : {}) });
  const ports = await broker.start();
  stops.push(() => broker.stop());
  return `mqtt://127.0.0.1:${ports.mqtt}`;
}

async function client(url: string, clientId: string): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
  stops.push(() => c.endAsync());
  return c;
}

/** `n` plugs each say `tele/<t>/LWT` Online (retained, QoS 0) then `cmnd/<t>/POWER` at once, as Tasmota does on connect. */
async function plugsConnect(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const plug = await client(url, `plug${i}`);
    plug.publish(`tele/plug${i}/LWT`, 'Online', { qos: 0, retain: true });
    plug.publish(`cmnd/plug${i}/POWER`, '', { qos: 0 });
  }
}

function subscriberTo(c: mqtt.MqttClient): string[] {
  const got: string[] = [];
  c.on('message', (topic) => got.push(topic));
  return got;
}

const lwts = (got: string[]) => got.filter((t) => t.endsWith('/LWT')).sort();
/** Each plug's LWT came before its POWER. */
const inOrder = (got: string[]) => [0, 1, 2, 3, 4].every((i) => got.indexOf(`tele/plug${i}/LWT`) < got.indexOf(`cmnd/plug${i}/POWER`));
const plugs = [0, 1, 2, 3, 4].map((i) => `tele/plug${i}/LWT`);

describe.each([
  ['Aedes’ own persistence', undefined],
  ['the gateway’s memory store', () => new MemoryPersistence()],
])('a retained QoS 0 message then another at once (%s)', (_name, persistence) => {
  it('both reach a subscriber to both, in order, for every device', async () => {
    const url = await brokerWith(persistence?.());
    const ha = await client(url, 'home-assistant');
    const got = subscriberTo(ha);
    await ha.subscribeAsync('#', { qos: 1 });
    await plugsConnect(url, 5);
    await waitFor(() => lwts(got).length === 5 && got.filter((t) => t.startsWith('cmnd/')).length === 5, 'the LWT and POWER messages');
    expect([lwts(got), inOrder(got)]).toEqual([plugs, true]);
  });
});

describe('a retained QoS 0 message then another at once, in a cluster', () => {
  it('both reach subscribers to both, in order, on the publisher\'s node and on another', { timeout: 60_000 }, async () => {
    const redis = await startRedis();
    stops.push(() => redis.stop());
    const limits = { maxInflightQos2: 10, maxInflightQos2Bytes: 100_000, maxQueuedMessages: 100, maxQueuedBytes: 0, maxQueuedBytesTotal: 0, sessionExpiryMs: 0 };
    const node = async (id: string) => {
      const bus = createClusterBus(redis.url, id, log);
      await waitFor(() => bus.sessions.status === 'ready', 'Redis connection');
      return brokerWith(new ClusterPersistence(limits, {}, bus.persistence, bus.sessions, { heartbeatMs: 500, hearingSince: bus.hearingSince }), { bus, heartbeatMs: 500 });
    };
    const [a, b] = [await node('a'), await node('b')];
    const onA = await client(a, 'ha-a');
    const onB = await client(b, 'ha-b');
    const [gotA, gotB] = [subscriberTo(onA), subscriberTo(onB)];
    await onA.subscribeAsync('#', { qos: 1 });
    await onB.subscribeAsync('#', { qos: 1 });
    await plugsConnect(a, 5);
    await waitFor(() => gotA.filter((t) => t.startsWith('cmnd/')).length === 5 && gotB.filter((t) => t.startsWith('cmnd/')).length === 5, 'the POWER messages on both nodes');
    await waitFor(() => lwts(gotA).length === 5 && lwts(gotB).length === 5, 'the LWT messages on both nodes');
    expect([lwts(gotA), lwts(gotB), inOrder(gotA), inOrder(gotB)]).toEqual([plugs, plugs, true, true]);
  });
});

describe('a client whose publish Aedes never completes (its offline-queue lookup failed: Redis away)', () => {
  it('is not held up for good: its later publishes go out, and after it reconnects (found by a review)', async () => {
    // Aedes' enqueueOffline emits 'error' and never calls back when subscriptionsByTopic fails.
    const persistence = new MemoryPersistence();
    const lookup = persistence.subscriptionsByTopic.bind(persistence);
    let failNext = true;
    persistence.subscriptionsByTopic = (topic: string) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('Redis away'));
      }
      return lookup(topic);
    };
    const url = await brokerWith(persistence);
    const watcher = await client(url, 'watcher');
    const got = subscriberTo(watcher);
    await watcher.subscribeAsync('#', { qos: 0 });
    const plug = await client(url, 'plug-stuck');
    plug.publish('tele/plug-stuck/SENSOR', 'lost', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
    plug.publish('tele/plug-stuck/STATE', 'after', { qos: 0 });
    await waitFor(() => got.includes('tele/plug-stuck/STATE'), 'the next publish, not held behind the one that never completed', 15_000);
    await plug.endAsync(true);
    const again = await client(url, 'plug-stuck');
    again.publish('tele/plug-stuck/LWT', 'Online', { qos: 0, retain: true });
    await waitFor(() => got.includes('tele/plug-stuck/LWT'), 'a publish after it reconnected');
  });
});
