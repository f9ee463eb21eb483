/**
 * The brokers of a cluster are one broker: retained messages, persistent sessions and client ids
 * span the nodes, and a dead node's clients' wills are published by another within seconds.
 */
import mqtt from 'mqtt';
import { describe, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

describe('the cluster\'s brokers', () => {
  it('share retained messages, sessions and client ids, and publish a dead node\'s wills', { timeout: 120_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('cbroker'), RULES_DIR: 'rules', MQTT_HEARTBEAT_MS: '500' };
    const nodes = await Promise.all(['A', 'B', 'C'].map((id) => startNode(id, env, track, defer)));
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    await settled(a, ['A', 'B', 'C']);
    const connect = async (url: string, opts: mqtt.IClientOptions) => {
      const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...opts });
      defer(() => client.endAsync(true));
      return client;
    };

    // Retained: set through A, seen by a new subscriber on B.
    const setter = await connect(a.mqttUrl, { clientId: 'setter' });
    await setter.publishAsync('devices/d-1/status', 'online', { qos: 1, retain: true });
    const reader = await connect(b.mqttUrl, { clientId: 'reader' });
    const retained: string[] = [];
    reader.on('message', (t, p, packet) => packet.retain && retained.push(`${t}=${p.toString()}`));
    await reader.subscribeAsync('devices/+/status', { qos: 1 });
    await waitFor(() => retained.includes('devices/d-1/status=online'), 'the retained status on B');

    // A persistent session made on A, offline while the rules command it (a reading sent to B), resumed on C.
    const first = await connect(a.mqttUrl, { clientId: 'hvac-9', clean: false });
    await first.subscribeAsync('commands/hq/f9/#', { qos: 1 });
    await first.endAsync();
    const sensor = await connect(b.mqttUrl, { clientId: 't-9' });
    await sensor.publishAsync('sensors/hq/f9/t-9/temperature', JSON.stringify({ value: 31, ts: Date.now(), id: 't-9-1' }), { qos: 1 });
    await waitFor(() => nodes.some((n) => n.proc.logs.some((l) => l.msg === 'command' && l['topic'] === 'commands/hq/f9/hvac')), 'the command, made while hvac-9 is away');
    const resumed: string[] = [];
    const again = mqtt.connect(c.mqttUrl, { clientId: 'hvac-9', clean: false, reconnectPeriod: 0 });
    defer(() => again.endAsync(true));
    again.on('message', (_t, p) => resumed.push((JSON.parse(p.toString()) as { correlationid: string }).correlationid));
    await waitFor(() => resumed.includes('t-9-1'), 'the queued command delivered on C');

    // One client id across the cluster: connecting on B closes the session on A.
    const onA = await connect(a.mqttUrl, { clientId: 'dup-id' });
    let closed = false;
    onA.on('close', () => (closed = true));
    await connect(b.mqttUrl, { clientId: 'dup-id' });
    await waitFor(() => closed, 'the client on A to be disconnected');

    // A dead node's wills: a device on C with a will, C SIGKILLed, a survivor publishes it.
    await connect(c.mqttUrl, { clientId: 'd-2', will: { topic: 'devices/d-2/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    const wills: number[] = [];
    reader.on('message', (t, p) => t === 'devices/d-2/status' && p.toString() === 'offline' && wills.push(Date.now()));
    const killedAt = Date.now();
    c.proc.child.kill('SIGKILL');
    // The deadline is the wait's (the behaviour: a survivor publishes it); how soon is reported, not asserted.
    await waitFor(() => wills.length > 0, 'd-2\'s will, published by a survivor', 20_000);
    console.log(JSON.stringify({ willAfterMs: wills[0]! - killedAt }));
  });
});
