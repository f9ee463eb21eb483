/**
 * Redis stops answering while a SUBSCRIBE's retained messages are being read from it: the node
 * lives on (Aedes pipes that read with no error handler; its failure, "Command timed out" 10 s
 * later, once killed the whole process), the subscriber is disconnected and counted as
 * `store_unavailable`, and once Redis answers again a new subscriber gets every retained message.
 * Found by stopping Redis under a node (SIGSTOP: its sockets stay open, its commands time out).
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { metric } from '../helpers/auth.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
/** Enough that their read (HSCAN, ten a round trip) is still going when the first one arrives, on a busy machine too (3,000 was not, once). */
const RETAINED = 10_000;

describe('cluster: Redis stops during a SUBSCRIBE\'s retained read', () => {
  it('the node survives, the subscriber is disconnected and counted, and subscribing works once Redis is back', { timeout: 120_000 }, async () => {
    const redis = await startRedis({ appendfsync: 'everysec' });
    defer(() => redis.stop());
    // A stopped redis-server ignores SIGTERM until continued: continued first (cleanup runs last first).
    const resume = (): void => void redis.child.kill('SIGCONT');
    defer(async () => resume());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('retainedout'), RULES_DIR: 'rules', MQTT_MAX_RETAINED_BYTES_PER_CLIENT: '0' };
    const a = await startNode('A', env, track, defer);
    await settled(a, ['A']);
    const connect = async (clientId: string, opts: IClientOptions = {}): Promise<MqttClient> => {
      const client = await mqtt.connectAsync(a.mqttUrl, { clientId, reconnectPeriod: 0, ...opts });
      defer(() => client.endAsync(true));
      return client;
    };

    const publisher = await connect('retainer');
    await Promise.all(Array.from({ length: RETAINED }, (_, i) => publisher.publishAsync(`devices/dev-${i}/status`, 'online', { qos: 1, retain: true })));

    const sub = await connect('reader');
    let got = 0;
    let closed = false;
    sub.on('close', () => (closed = true));
    sub.on('message', () => {
      // Redis stops answering as the first retained message arrives: the read is under way.
      if (got++ === 0) redis.child.kill('SIGSTOP');
    });
    await sub.subscribeAsync('devices/+/status', { qos: 0 });
    await waitFor(() => got > 0, 'the first retained message');

    // ioredis gives up on the read after its command timeout (10 s): the subscriber is told, the node lives.
    const alive = (): string => `node A exited ${a.proc.child.exitCode}: ${a.proc.stderr.filter((l) => /Error|error/.test(l)).slice(0, 4).join(' | ')}`;
    await waitFor(() => closed || a.proc.child.exitCode !== null, 'the reader disconnected', 40_000);
    await waitFor(async () => (await metric(a.httpUrl, 'gateway_refusals_total', { reason: 'store_unavailable' })) >= 1, 'a client counted as store_unavailable', 10_000).catch((err: Error) => {
      throw new Error(`${err.message}; ${alive()}`);
    });
    expect(a.proc.child.exitCode).toBe(null);
    // Said, with its code: as the reader's refusal when the gateway can tell whose read it was (it
    // notes the client of the SUBSCRIBE just before the read starts; under load it cannot always),
    // else as a broker error. The node's log comes through its stdout, after the counter maybe.
    await waitFor(() => a.proc.logs.some((l) => l['code'] === 'GW_ERR_REDIS_UNREACHABLE' && (l['clientId'] === 'reader' || l['component'] === 'broker')), 'the failed read logged', 10_000);
    // Cut mid-read: not all its retained messages came.
    expect(got).toBeLessThan(RETAINED);

    resume();
    // Subscribing works again: a new reader gets every retained message.
    const again = await connect('reader-again');
    let gotAgain = 0;
    again.on('message', () => gotAgain++);
    await again.subscribeAsync('devices/+/status', { qos: 0 });
    await waitFor(() => gotAgain >= RETAINED, `all ${RETAINED} retained messages again`, 30_000);
    expect(a.proc.child.exitCode).toBe(null);
  });
});
