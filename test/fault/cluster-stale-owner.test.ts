/**
 * An owner paused (SIGSTOP) past its lease, while another node takes its partitions over and
 * fires the timer it had running, then woken (SIGCONT): it lets its partitions go without
 * writing or publishing anything, and the timer's command went out once.
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../gateway/core/partition.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-cluster');

describe('cluster: a stale owner', () => {
  it('paused past its lease and woken after another node fired its timer: writes and publishes nothing, lets go, rejoins', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const db = uniqueDb('stale');
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: db, RULES_DIR: RULES };
    const nodes = await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)));
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const view = await settled(a, ['A', 'B']);
    const site = Array.from({ length: 200 }, (_, i) => `stale${i}`).find((s) => view.partitions[partitionOf(s, TEST_PARTITIONS)]!.owner === 'B')!;
    const partition = partitionOf(site, TEST_PARTITIONS);

    const actuator = await mqtt.connectAsync(a.mqttUrl, { clientId: 'actuators', reconnectPeriod: 0 });
    defer(() => actuator.endAsync());
    const received: string[] = [];
    actuator.on('message', (_topic, payload) => received.push((JSON.parse(payload.toString()) as { source: string }).source));
    await actuator.subscribeAsync(`commands/${site}/#`, { qos: 1 });

    const device = await mqtt.connectAsync(a.mqttUrl, { clientId: 'th', reconnectPeriod: 0 });
    defer(() => device.endAsync());
    await device.publishAsync(`sensors/${site}/z1/th/temperature`, JSON.stringify({ value: 27, ts: Date.now(), id: 'th-1' }), { qos: 1 });
    const probe = new Redis(redis.url);
    defer(async () => probe.disconnect());
    await waitFor(async () => {
      const [last] = (await probe.xrevrange(`gw:stream:${partition}`, '+', '-', 'COUNT', 1)) as [string, string[]][];
      const cursor = await probe.hget(`gw:state:${partition}`, 'cursor');
      return last !== undefined && cursor === last[0];
    }, 'B to have ruled the reading (its held-for timer runs on B)');

    b.proc.child.kill('SIGSTOP');
    defer(async () => void b.proc.child.kill('SIGCONT'));
    await settled(a, ['A'], 30_000);
    // The 20 s held-for falls due while B sleeps: A, the owner now, fires it.
    await waitFor(() => received.includes('rules/warm-held'), 'the held-for command from A', 40_000);
    const fencedBefore = await probe.get(`gw:fence:${partition}`);

    b.proc.child.kill('SIGCONT');
    await waitFor(() => b.proc.logs.some((l) => l.msg === 'partition released' && l['partition'] === partition && l['reason'] === 'lost'), 'B to let its partition go', 20_000);
    // B comes back as a member and gets its partitions back, with new tokens.
    await settled(a, ['A', 'B'], 30_000);
    expect(Number(await probe.get(`gw:fence:${partition}`))).toBeGreaterThan(Number(fencedBefore));
    // Then a reading that makes a command: whatever B might have sent on waking came before it.
    await device.publishAsync(`sensors/${site}/z1/th/temperature`, JSON.stringify({ value: 31, ts: Date.now(), id: 'th-2' }), { qos: 1 });
    await waitFor(() => received.includes('rules/hot'), 'the next command');
    expect(received).toEqual(['rules/warm-held', 'rules/hot']);
    // The woken B published nothing from its stale state (the one command after waking is for th-2).
    const wokeAt = b.proc.logs.find((l) => l.msg === 'partition released' && l['reason'] === 'lost')!.time as number;
    const stale = b.proc.logs.filter((l) => l.msg === 'command' && (l.time as number) >= wokeAt && l['correlationId'] !== 'th-2');
    expect(stale).toEqual([]);
  });
});
