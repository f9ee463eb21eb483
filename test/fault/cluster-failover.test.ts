/**
 * A cluster of three gateway processes under QoS 1 load spread over all three; one node is
 * SIGKILLed for 30 s and started again. Nothing acknowledged is lost or stored twice, ownership
 * of every partition stays exclusive, the dead node's partitions are taken over and given back,
 * and the timers that were running on it fire exactly once, on the node that owns them then.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../gateway/core/partition.js';
import { runSimulation } from '../../simulators/simulator.js';
import { useCleanup } from '../helpers/cleanup.js';
import { allAcknowledgedStored, settled, startNode, TEST_PARTITIONS } from '../helpers/cluster.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { intervals, overlaps } from '../helpers/ownership.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-cluster');

describe('cluster failover', () => {
  it('SIGKILL a node for 30 s under QoS 1 load: every acknowledged reading once, exclusive ownership, its timers fire once elsewhere, its partitions back after restart', { timeout: 300_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const influx = inject('influxUrl');
    const db = uniqueDb('failover');
    const env = { REDIS_URL: redis.url, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: RULES };
    const nodes = await Promise.all(['A', 'B', 'C'].map((id) => startNode(id, env, track, defer)));
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    const view = await settled(a, ['A', 'B', 'C']);
    // A site whose partition C owns: its timers will be running on C when C is killed.
    const site = Array.from({ length: 200 }, (_, i) => `timers${i}`).find((s) => view.partitions[partitionOf(s, TEST_PARTITIONS)]!.owner === 'C')!;
    const partition = partitionOf(site, TEST_PARTITIONS);
    const ownedByC = view.partitions.filter((p) => p.owner === 'C').map((p) => p.partition);

    const actuator = await mqtt.connectAsync(a.mqttUrl, { clientId: 'actuators', reconnectPeriod: 0 });
    defer(() => actuator.endAsync());
    const received: { topic: string; id: string; data: unknown; source: string; at: number }[] = [];
    actuator.on('message', (topic, payload) => {
      const ce = JSON.parse(payload.toString()) as { id: string; data: unknown; source: string };
      received.push({ topic, id: ce.id, data: ce.data, source: ce.source, at: Date.now() });
    });
    await actuator.subscribeAsync('commands/#', { qos: 1 });

    // QoS 1 load with ts and id, spread over the three nodes, on sites of every partition.
    const acked = new Set<string>();
    const loads = nodes.map((n) =>
      runSimulation({ restore: false, url: n.mqttUrl, devices: 12, rate: 60, duration: 55, qos: 1, sites: 8, prefix: `load-${n.id}`, seed: n.id.charCodeAt(0), onAck: (r) => acked.add(r.id), drainTimeoutMs: 120_000, sayOffline: false }),
    );

    // The timers start on C: 27 °C (held for 20 s → fan on) and motion (absent for 15 s → lights off).
    const device = await mqtt.connectAsync(c.mqttUrl, { clientId: 'timer-device', reconnectPeriod: 0 });
    const t0 = Date.now();
    await device.publishAsync(`sensors/${site}/z1/th-1/temperature`, JSON.stringify({ value: 27, ts: t0, id: 'th-1-1' }), { qos: 1 });
    await device.publishAsync(`sensors/${site}/z1/pir-1/motion`, JSON.stringify({ value: true, ts: t0, id: 'pir-1-1' }), { qos: 1 });
    // C has ruled both (its cursor is past them in Redis) before it is killed.
    const probe = new Redis(redis.url);
    defer(async () => probe.disconnect());
    const entries = (await waitFor(async () => {
      const all = (await probe.xrange(`gw:stream:${partition}`, '-', '+')) as [string, string[]][];
      const mine = all.filter(([, f]) => f.some((x) => x.includes('th-1-1') || x.includes('pir-1-1')));
      return mine.length === 2 ? mine : undefined;
    }, 'the timer readings in their stream'));
    await waitFor(async () => {
      const cursor = (await probe.hget(`gw:state:${partition}`, 'cursor')) ?? '0-0';
      const [ms, seq] = cursor.split('-').map(Number) as [number, number];
      const [lms, lseq] = entries[1]![0].split('-').map(Number) as [number, number];
      return ms > lms || (ms === lms && seq >= lseq);
    }, 'C to have ruled the timer readings');
    await sleep(1000);

    const killedAt = Date.now();
    c.proc.child.kill('SIGKILL');
    await c.proc.exited;
    const oldC = c.proc;
    // The survivors take C's partitions over.
    await settled(a, ['A', 'B'], 30_000);
    const takeoverMs = Date.now() - killedAt;
    await sleep(Math.max(0, killedAt + 30_000 - Date.now()));

    const restartAt = Date.now();
    await c.restart();
    await settled(a, ['A', 'B', 'C'], 10_000 + (Date.now() - restartAt));
    const backMs = Date.now() - restartAt;
    // C owns partitions again after its start (how soon is reported below, not asserted: timing belongs in the bench).
    const cStarted = c.proc.logs.find((l) => l.msg === 'gateway started')!.time as number;
    const acquiredByC = c.proc.logs.filter((l) => l.msg === 'partition acquired').map((l) => l['at'] as number);
    expect(acquiredByC.length).toBeGreaterThan(0);
    const lastBack = Math.max(...acquiredByC);
    expect(lastBack).toBeGreaterThanOrEqual(cStarted);

    const summaries = await Promise.all(loads);
    // "Every acknowledged reading once" must be about something: the load was acknowledged.
    expect(acked.size).toBeGreaterThan(1000);
    const check = await allAcknowledgedStored(influx, db, acked);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);

    // The timers fired once each, on a survivor (C was dead when they fell due).
    const timerCommands = await waitFor(async () => {
      const r = await rows(influx, db, `SELECT * FROM "commands" WHERE "site" = '${site}'`);
      return r.length >= 2 ? r : undefined;
    }, 'the timer commands in InfluxDB', 30_000);
    expect(timerCommands.map((r) => r['rule']).sort()).toEqual(['quiet', 'warm-held']);
    const timerMessages = received.filter((m) => m.topic.startsWith(`commands/${site}/`));
    expect(timerMessages.map((m) => m.source).sort()).toEqual(['rules/quiet', 'rules/warm-held']);
    for (const m of timerMessages) expect(m.at).toBeGreaterThan(killedAt);
    const firedBy = [a, b].filter((n) => n.proc.logs.some((l) => l.msg === 'command' && String(l['topic']).startsWith(`commands/${site}/`)));
    expect(firedBy).toHaveLength(1);

    // No command twice: each message id once, and no actuator sent the same state twice in a row.
    expect(new Set(received.map((m) => m.id)).size).toBe(received.length);
    const all = await rows(influx, db, 'SELECT * FROM "commands" GROUP BY "site", "zone", "actuator"');
    const byTarget = new Map<string, string[]>();
    for (const r of all.sort((x, y) => (x['time'] as number) - (y['time'] as number))) {
      const key = `${String(r['site'])}/${String(r['zone'])}/${String(r['actuator'])}`;
      byTarget.set(key, [...(byTarget.get(key) ?? []), String(r['data'])]);
    }
    for (const [target, datas] of byTarget) for (let i = 1; i < datas.length; i++) expect(`${target}: ${datas[i]}`).not.toBe(`${target}: ${datas[i - 1]}`);
    expect(received.length).toBe(all.length);

    // Ownership intervals (from every run's log) never overlap.
    const recorded = [...intervals(a.proc.logs), ...intervals(b.proc.logs), ...intervals(oldC.logs, killedAt), ...intervals(c.proc.logs)];
    expect(overlaps(recorded)).toEqual([]);
    expect(recorded.filter((i) => ownedByC.includes(i.partition)).length).toBeGreaterThanOrEqual(3 * ownedByC.length);

    console.log(
      JSON.stringify({
        takeoverMs,
        ownedAgainMs: backMs,
        ownedAgainAfterStartMs: lastBack - cStarted,
        acknowledged: acked.size,
        sent: summaries.reduce((n, s) => n + s.sent, 0),
        commands: all.length,
        partitionsOfC: ownedByC,
      }),
    );
  });
});
