/**
 * A client connecting to a cluster node while Redis (where sessions live) is down: its CONNECT
 * waits for Redis, up to MQTT_REDIS_WAIT_MS, and completes once Redis is back; past that bound it
 * is refused with CONNACK 3 (server unavailable), counted as `store_unavailable` and logged as
 * GW_ERR_REDIS_UNREACHABLE — never as malformed MQTT (`protocol_error`, GW_ERR_PROTOCOL).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { metric } from '../helpers/auth.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

/** Longer than the sessions connection's command timeout (10 s), which used to end such a CONNECT. */
const OUTAGE_MS = 12_000;

describe('cluster: a client connecting while Redis is down', () => {
  it('waits for Redis and connects once it is back; past MQTT_REDIS_WAIT_MS it is refused as server unavailable, not as malformed MQTT', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('redisconn'), RULES_DIR: 'rules' };
    // A waits longer than the outage; B's bound is short.
    const [a, b] = await Promise.all([startNode('A', { ...env, MQTT_REDIS_WAIT_MS: '60000' }, track, defer), startNode('B', { ...env, MQTT_REDIS_WAIT_MS: '1000' }, track, defer)]);
    await settled(a, ['A', 'B']);

    await redis.kill();
    await waitFor(async () => (await fetch(`${a.httpUrl}/readyz`)).status === 503 && (await fetch(`${b.httpUrl}/readyz`)).status === 503, 'both nodes to see Redis gone', 20_000);

    // B: refused with CONNACK 3 once its bound passes.
    const refused = mqtt.connect(b.mqttUrl, { clientId: 'latecomer', reconnectPeriod: 0, connectTimeout: 60_000 });
    defer(() => refused.endAsync(true));
    const refusal = await new Promise<{ code?: number; closed: boolean }>((resolve) => {
      refused.once('error', (err) => resolve({ code: (err as { code?: number }).code, closed: false }));
      refused.once('close', () => resolve({ closed: true }));
      refused.once('connect', () => resolve({ code: 0, closed: false }));
    });
    expect(refusal).toEqual({ code: 3, closed: false });

    // A: the CONNECT waits through the outage and completes once Redis is back.
    const events: string[] = [];
    const newcomer = mqtt.connect(a.mqttUrl, { clientId: 'newcomer', reconnectPeriod: 0, connectTimeout: 120_000 });
    defer(() => newcomer.endAsync(true));
    newcomer.on('connect', () => events.push('connect'));
    newcomer.on('close', () => events.push('close'));
    newcomer.on('error', (err) => events.push(`error: ${err.message}`));
    await sleep(OUTAGE_MS);
    expect(events).toEqual([]);
    await redis.restart();
    await waitFor(() => events.length > 0, 'the newcomer\'s CONNACK', 60_000);
    expect(events[0]).toBe('connect');
    await newcomer.publishAsync('sensors/hq/f8/nc/temperature', JSON.stringify({ value: 22 }), { qos: 1 });

    expect(await metric(b.httpUrl, 'gateway_refusals_total', { reason: 'store_unavailable' })).toBe(1);
    const refusedLine = b.proc.logs.find((l) => l.msg === 'refused: store_unavailable');
    expect(refusedLine).toMatchObject({ code: 'GW_ERR_REDIS_UNREACHABLE', clientId: 'latecomer' });
    for (const node of [a, b]) {
      expect(await metric(node.httpUrl, 'gateway_refusals_total', { reason: 'protocol_error' })).toBe(0);
      expect(node.proc.logs.filter((l) => l['code'] === 'GW_ERR_PROTOCOL')).toEqual([]);
      // Whatever the broker itself says of Redis' failures carries the code.
      expect(node.proc.logs.filter((l) => l.msg === 'broker error' && l['code'] === undefined)).toEqual([]);
    }
  });
});
