/**
 * An actuator's reports are its actuator's on whichever node they reach, as long as its session
 * holds the subscription (kept in Redis): node B never saw the SUBSCRIBE, made on node A.
 *
 * - vent-f1 subscribes on A and stays there; the same client id connects to B with `clean: false`
 *   (taking the session over) and answers the commands there (mosquitto_sub -c on A, mosquitto_pub -c on B);
 * - fan-f5 subscribes on A, A is SIGKILLed, the fan comes back on B told `sessionPresent` and does
 *   not subscribe again (mqtt.js).
 *
 * Each report confirms its command on the partition's owner (B); none is an `unknown_actuator`
 * dead letter. Real gateway processes on a real Redis and InfluxDB, real MQTT clients.
 */
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf, partitionsFor } from '../../gateway/core/partition.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS, type ClusterNodeProcess } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { collect } from '../helpers/mqtt.js';
import { answering } from '../helpers/persistent-actuator.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

/** A site whose partition B owns (of nodes A and B): killing A leaves its rules running. */
function siteOfB(): string {
  const owned = new Set(partitionsFor('B', ['A', 'B'], TEST_PARTITIONS));
  return Array.from({ length: 200 }, (_, i) => `north${i}`).find((s) => owned.has(partitionOf(s, TEST_PARTITIONS)))!;
}

/** Redis, nodes A and B settled, an observer of dead letters on B, and how B's rules see an actuator. */
async function cluster(name: string) {
  const site = siteOfB();
  const redis = await startRedis();
  defer(() => redis.stop());
  const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb(name), RULES_DIR: 'rules', MQTT_HEARTBEAT_MS: '500' };
  const [a, b] = (await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)))) as [ClusterNodeProcess, ClusterNodeProcess];
  await settled(a, ['A', 'B']);
  const connect = async (url: string, opts: mqtt.IClientOptions) => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
    defer(() => client.endAsync(true));
    return client;
  };
  const answer = async (url: string, clientId: string) => {
    const actuator = await answering(url, clientId);
    defer(() => actuator.client.endAsync(true));
    return actuator;
  };
  const observer = await connect(b.mqttUrl, { clientId: 'observer' });
  const dead = await collect(observer, 'gateway/deadletter');
  const status = async (target: string): Promise<string | undefined> => {
    const { actuators } = (await (await fetch(`${b.httpUrl}/api/actuators`)).json()) as { actuators: { site: string; zone: string; actuator: string; status: string }[] };
    return actuators.find((x) => `${x.site}/${x.zone}/${x.actuator}` === target)?.status;
  };
  /** A hot reading (through B) commands the zone's hvac; its answer confirms it, or is a dead letter. */
  const commandAndAnswer = async (zone: string): Promise<void> => {
    const target = `${site}/${zone}/hvac`;
    await observer.publishAsync(`sensors/${site}/${zone}/t-${zone}/temperature`, JSON.stringify({ value: 31, id: `ca-${zone}` }), { qos: 1 });
    await waitFor(async () => (await status(target)) === 'confirmed' || dead.messages.length > 0, `${target}'s report taken, or dead-lettered`, 30_000);
    expect(dead.messages.map((m) => m.json<{ reason: string; detail: string }>())).toEqual([]);
    expect(await status(target)).toBe('confirmed');
  };
  return { site, a, b, connect, answer, commandAndAnswer };
}

describe('an actuator known by its session in a cluster', () => {
  it('subscribed on A and still there, its reports on B under its client id (session taken over) confirm its commands', { timeout: 120_000 }, async () => {
    const { site, a, b, connect, answer, commandAndAnswer } = await cluster('cact_takeover');
    const onA = await connect(a.mqttUrl, { clientId: 'vent-f1', clean: false });
    await onA.subscribeAsync(`commands/${site}/f1/hvac`, { qos: 1 });
    const vent = await answer(b.mqttUrl, 'vent-f1');
    expect(vent.sessionPresent).toBe(true);
    await commandAndAnswer('f1');
  });

  it('subscribed on A, A killed, back on B with its session (not subscribing again): its reports confirm its commands', { timeout: 120_000 }, async () => {
    const { site, a, b, connect, answer, commandAndAnswer } = await cluster('cact_killed');
    const first = await connect(a.mqttUrl, { clientId: 'fan-f5', clean: false });
    await first.subscribeAsync(`commands/${site}/f5/hvac`, { qos: 1 });
    a.proc.child.kill('SIGKILL');
    await a.proc.exited;
    const fan = await answer(b.mqttUrl, 'fan-f5');
    expect(fan.sessionPresent).toBe(true);
    await commandAndAnswer('f5');
  });
});
