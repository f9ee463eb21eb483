/**
 * A cluster publishes a will only for a client that is really gone: never for one connected now
 * (on any live node), nor for one that reconnected elsewhere after its node died; a dead node's
 * other clients' wills still go out, once. Both cases were found from outside with two nodes
 * (a Redis outage made every device offline; a device back on a survivor was marked offline by
 * its old node's will seconds later).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const HEARTBEAT_MS = 500;
/** Long enough for several will sweeps of every node (Aedes sweeps every 4 heartbeats). */
const SWEEPS_MS = 16 * HEARTBEAT_MS;

const device = (id: string): IClientOptions => ({ clientId: id, reconnectPeriod: 0, will: { topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } });

async function cluster(name: string, ids: string[]) {
  const redis = await startRedis();
  defer(() => redis.stop());
  const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb(name), RULES_DIR: 'rules', MQTT_HEARTBEAT_MS: String(HEARTBEAT_MS) };
  const nodes = await Promise.all(ids.map((id) => startNode(id, env, track, defer)));
  await settled(nodes[0]!, ids);
  const connect = async (url: string, opts: IClientOptions): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
    defer(() => client.endAsync(true));
    return client;
  };
  /** A device online (its retained status) with its will `offline`; `closed` says whether its connection ever ended. */
  const online = async (url: string, id: string) => {
    const client = await connect(url, device(id));
    const state = { client, closed: false };
    client.on('close', () => (state.closed = true));
    await client.publishAsync(`devices/${id}/status`, 'online', { qos: 1, retain: true });
    return state;
  };
  /** Every status message published after a subscriber on `url` subscribed (not the retained ones it got then), in order. */
  const watch = async (url: string, name: string, retainedNow: number) => {
    const seen: string[] = [];
    const sub = await connect(url, { clientId: name });
    let retainedGot = 0;
    sub.on('message', (t, p, packet) => (packet.retain ? retainedGot++ : seen.push(`${t.split('/')[1]}=${p.toString()}`)));
    await sub.subscribeAsync('devices/+/status', { qos: 1 });
    // Its retained messages all read from Redis before the test goes on (a fault then would meet the read).
    await waitFor(() => retainedGot >= retainedNow, `${name}'s retained statuses`);
    return seen;
  };
  /** The retained status of `id`, as a new subscriber on `url` gets it. */
  const retained = async (url: string, id: string): Promise<string> => {
    const sub = await connect(url, { clientId: `retained-${id}-${Date.now()}` });
    const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())));
    await sub.subscribeAsync(`devices/${id}/status`, { qos: 1 });
    const value = await got;
    await sub.endAsync(true);
    return value;
  };
  return { redis, nodes, connect, online, watch, retained };
}

describe('cluster: wills', () => {
  it('a Redis outage publishes no will of a client still connected; a node killed meanwhile has its client\'s will published once', { timeout: 180_000 }, async () => {
    const { redis, nodes, online, watch, retained } = await cluster('willsredis', ['A', 'B', 'C']);
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    const prA = await online(a.mqttUrl, 'pr-a');
    const prB = await online(b.mqttUrl, 'pr-b');
    await online(c.mqttUrl, 'pr-c');
    const onA = await watch(a.mqttUrl, 'watch-a', 3);
    const onB = await watch(b.mqttUrl, 'watch-b', 3);

    await redis.kill();
    // C dies during the outage: its client is really gone.
    c.proc.child.kill('SIGKILL');
    await sleep(20 * HEARTBEAT_MS);
    await redis.restart();
    await settled(a, ['A', 'B'], 60_000).catch((err: Error) => {
      throw new Error(`${err.message} (B exited ${b.proc.child.exitCode}: ${b.proc.stderr.slice(-20).join('\n')})`);
    });
    await waitFor(() => onA.includes('pr-c=offline') && onB.includes('pr-c=offline'), 'pr-c\'s will (its node died), seen on A and on B', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; seen on A: ${onA.join(', ')}; on B: ${onB.join(', ')}`);
    });
    await sleep(SWEEPS_MS);

    expect({ prA: prA.closed, prB: prB.closed }).toEqual({ prA: false, prB: false });
    expect({ onA, onB }).toEqual({ onA: ['pr-c=offline'], onB: ['pr-c=offline'] });
    expect([await retained(a.mqttUrl, 'pr-a'), await retained(b.mqttUrl, 'pr-b'), await retained(a.mqttUrl, 'pr-c')]).toEqual(['online', 'online', 'offline']);
  });

  it('a dead node\'s will is not published for a client that reconnected to a survivor; its other clients\' wills are, once', { timeout: 180_000 }, async () => {
    const { redis, nodes, online, watch, retained } = await cluster('willsmoved', ['A', 'B', 'C']);
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    const moved = await online(a.mqttUrl, 'pr-moved');
    await online(a.mqttUrl, 'pr-gone');
    const onC = await watch(c.mqttUrl, 'watch-c', 2);

    a.proc.child.kill('SIGKILL');
    await waitFor(() => moved.closed, 'pr-moved to see its node die');
    // Back at once on B (before the survivors judge A dead), online again.
    await online(b.mqttUrl, 'pr-moved');
    await waitFor(() => onC.includes('pr-gone=offline'), 'pr-gone\'s will, published by a survivor', 30_000);
    await sleep(SWEEPS_MS);

    expect({ moved: onC.filter((s) => s.startsWith('pr-moved=')), gone: onC.filter((s) => s.startsWith('pr-gone=')) }).toEqual({ moved: ['pr-moved=online'], gone: ['pr-gone=offline'] });
    expect([await retained(c.mqttUrl, 'pr-moved'), await retained(c.mqttUrl, 'pr-gone')]).toEqual(['online', 'offline']);
    // Only a client with a will is recorded in Redis: the watchers and readers (no will) leave no key (a review: every CONNECT left one for 7 days).
    const keys = new Redis(redis.url);
    defer(() => keys.quit());
    expect({ movedWithWill: await keys.exists('gw:client:pr-moved'), watcherWithout: await keys.exists('gw:client:watch-c') }).toEqual({ movedWithWill: 1, watcherWithout: 0 });
  });
});
