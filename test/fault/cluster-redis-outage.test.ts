/**
 * Redis SIGKILLed under load and started again (its AOF, appendfsync always): ingest and storage
 * go on on every node (the spool is local), the rules stop and say so (/readyz 503,
 * GW_ERR_REDIS_UNREACHABLE), forwarding resumes from the spool's cursor, and nothing
 * acknowledged is lost. The rules' gap is measured: a probe sends a reading every 250 ms that
 * makes a command (alternately 31 °C → cool and 5 °C → off).
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { runSimulation } from '../../simulators/simulator.js';
import { useCleanup } from '../helpers/cleanup.js';
import { allAcknowledgedStored, settled, startNode } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-cluster');

describe('cluster: Redis killed and restarted', () => {
  it('loses nothing acknowledged, stops the rules and says so, and rules again from the cursor when Redis is back', { timeout: 300_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const influx = inject('influxUrl');
    const db = uniqueDb('redisout');
    const env = { REDIS_URL: redis.url, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: RULES };
    const nodes = await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)));
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    await settled(a, ['A', 'B']);

    const actuator = await mqtt.connectAsync(b.mqttUrl, { clientId: 'probe-hvac', reconnectPeriod: 0 });
    defer(() => actuator.endAsync());
    const commands: { at: number; correlation: string }[] = [];
    actuator.on('message', (_t, payload) => commands.push({ at: Date.now(), correlation: (JSON.parse(payload.toString()) as { correlationid: string }).correlationid }));
    await actuator.subscribeAsync('commands/probe/z1/hvac', { qos: 1 });

    const acked = new Set<string>();
    const loads = nodes.map((n) => runSimulation({ restore: false, url: n.mqttUrl, devices: 10, rate: 50, duration: 40, qos: 1, sites: 6, prefix: `load-${n.id}`, seed: 7, onAck: (r) => acked.add(r.id), drainTimeoutMs: 120_000, sayOffline: false }));
    const probe = await mqtt.connectAsync(a.mqttUrl, { clientId: 'probe', reconnectPeriod: 0 });
    defer(() => probe.endAsync());
    let n = 0;
    let probing = true;
    const probeLoop = (async () => {
      while (probing) {
        n++;
        const id = `probe-${n}`;
        await probe.publishAsync('sensors/probe/z1/t/temperature', JSON.stringify({ value: n % 2 ? 31 : 5, ts: Date.now(), id }), { qos: 1 });
        acked.add(id);
        await sleep(250);
      }
    })();
    await waitFor(() => commands.length >= 8, 'the probe\'s commands');

    const killedAt = Date.now();
    await redis.kill();
    // Rules stop and say so; ingest goes on (the load keeps being acknowledged).
    await waitFor(async () => (await fetch(`${a.httpUrl}/readyz`)).status === 503, '/readyz to say not ready', 20_000);
    const ready = (await (await fetch(`${a.httpUrl}/readyz`)).json()) as { checks: { cluster: { ok: boolean; detail: string } } };
    expect(ready.checks.cluster.ok).toBe(false);
    expect(ready.checks.cluster.detail).toMatch(/Redis unreachable/);
    expect(a.proc.logs.some((l) => l['code'] === 'GW_ERR_REDIS_UNREACHABLE')).toBe(true);
    const ackedAtKill = acked.size;
    await waitFor(() => acked.size > ackedAtKill + 200, 'readings still acknowledged with Redis down', 20_000);
    await sleep(Math.max(0, killedAt + 10_000 - Date.now()));

    const restartedAt = Date.now();
    await redis.restart();
    const outageMs = restartedAt - killedAt;
    await settled(a, ['A', 'B'], 30_000);
    const sentAtRestart = n;
    // The rules rule again: a probe reading sent after the restart makes its command.
    await waitFor(() => commands.some((c) => Number(c.correlation.slice(6)) > sentAtRestart), 'a command for a reading sent after Redis came back', 30_000);
    probing = false;
    await probeLoop;

    await Promise.all(loads);
    const check = await allAcknowledgedStored(influx, db, acked);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);

    // The gap: the longest time without a command while the probe made one every 250 ms.
    let gapMs = 0;
    let gapEnd = 0;
    for (let i = 1; i < commands.length; i++) {
      const d = commands[i]!.at - commands[i - 1]!.at;
      if (d > gapMs) [gapMs, gapEnd] = [d, commands[i]!.at];
    }
    // Readings sent during the outage were ruled once Redis was back, in order, none twice.
    const correlations = commands.map((c) => Number(c.correlation.slice(6)));
    expect(new Set(correlations).size).toBe(correlations.length);
    expect([...correlations].sort((x, y) => x - y)).toEqual(correlations);
    expect(gapMs).toBeGreaterThanOrEqual(outageMs - 1000);
    console.log(JSON.stringify({ outageMs, rulesGapMs: gapMs, rulesBackAfterRestartMs: gapEnd - restartedAt, probeReadings: n, probeCommands: commands.length, acknowledged: acked.size }));
  });
});
