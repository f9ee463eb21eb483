/**
 * Three gateway processes A, B, C on one Redis and one InfluxDB database: a reading on one node
 * is ruled by the owner of its site's partition, whichever node that is, and the command reaches
 * an actuator connected to another node, once.
 */
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../gateway/core/partition.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS } from '../helpers/cluster.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

describe('a cluster of three gateways', () => {
  it('rules a reading sent to A on the owner of its site, and the command reaches an actuator on C, stored once', { timeout: 120_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const influx = inject('influxUrl');
    const db = uniqueDb('cluster');
    const env = { REDIS_URL: redis.url, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: 'rules' };
    const [a, b, c] = await Promise.all(['A', 'B', 'C'].map((id) => startNode(id, env, track, defer)));
    const view = await settled(a!, ['A', 'B', 'C']);
    const site = 'hq';
    const owner = view.partitions[partitionOf(site, TEST_PARTITIONS)]!.owner;

    const actuator = await mqtt.connectAsync(c!.mqttUrl, { clientId: 'hvac-f1', reconnectPeriod: 0 });
    defer(() => actuator.endAsync());
    const commands: { topic: string; payload: Record<string, unknown> }[] = [];
    actuator.on('message', (topic, payload) => commands.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await actuator.subscribeAsync('commands/hq/f1/#', { qos: 1 });

    const device = await mqtt.connectAsync(a!.mqttUrl, { clientId: 't-101', reconnectPeriod: 0 });
    defer(() => device.endAsync());
    await device.publishAsync('sensors/hq/f1/t-101/temperature', JSON.stringify({ value: 31, ts: Date.now(), id: 't-101-1' }), { qos: 1 });

    await waitFor(() => commands.length > 0, 'the command on C', 20_000);
    expect(commands[0]).toMatchObject({ topic: 'commands/hq/f1/hvac', payload: { type: 'hvac.set', source: 'rules/hvac-cool', correlationid: 't-101-1', data: { mode: 'cool', setpoint: 22 } } });
    // Whichever node owns hq's partition ruled it, and logged the command.
    const ruler = [a!, b!, c!].find((n) => n.id === owner)!;
    await waitFor(() => ruler.proc.logs.find((l) => l.msg === 'command'), `the command in ${owner}'s log`);
    for (const other of [a!, b!, c!].filter((n) => n.id !== owner)) expect(other.proc.logs.filter((l) => l.msg === 'command')).toEqual([]);

    const stored = await waitFor(async () => {
      const r = await rows(influx, db, 'SELECT * FROM "commands"');
      return r.length > 0 ? r : undefined;
    }, 'the command in InfluxDB', 20_000);
    // A later reading (forces one more write through every sink) still leaves exactly one point.
    await device.publishAsync('sensors/hq/f1/t-101/temperature', JSON.stringify({ value: 31.5, ts: Date.now(), id: 't-101-2' }), { qos: 1 });
    await waitFor(async () => (await rows(influx, db, 'SELECT * FROM "temperature"')).length === 2, 'both readings stored');
    const after = await rows(influx, db, 'SELECT * FROM "commands"');
    expect(stored).toHaveLength(1);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ actuator: 'hvac', site: 'hq', zone: 'f1', rule: 'hvac-cool', correlation_id: 't-101-1' });
    expect(commands).toHaveLength(1);

    const ready = (await (await fetch(`${b!.httpUrl}/readyz`)).json()) as { checks: { cluster: { ok: boolean; node: string; partitions: number[] } } };
    expect(ready.checks.cluster).toMatchObject({ ok: true, node: 'B' });
  });
});
