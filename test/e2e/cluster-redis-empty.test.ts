/**
 * Redis restarted EMPTY under a running cluster (no AOF: Debian's default config, a container
 * without a volume): the fences restart at 1 and the shared rule state is gone. Each node must
 * say so (GW_ERR_CLUSTER_DATA_LOST: what is lost, how to avoid it) and count it in /metrics,
 * once; a restart that kept the data (AOF replayed) must not.
 */
import { resolve } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, type ClusterNodeProcess } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-cluster');
const CODE = 'GW_ERR_CLUSTER_DATA_LOST';

const dataLost = (n: ClusterNodeProcess) => n.proc.logs.filter((l) => l['code'] === CODE);
async function counter(n: ClusterNodeProcess): Promise<number | undefined> {
  const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
  const m = /^gateway_cluster_data_lost_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('cluster: Redis restarted empty', () => {
  it('every node logs that the cluster data is gone, what that loses and how to avoid it, and counts it', { timeout: 120_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('redisempty'), RULES_DIR: RULES };
    const nodes = await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)));
    const [a, b] = nodes as [ClusterNodeProcess, ClusterNodeProcess];
    await settled(a, ['A', 'B']);

    // A restart that kept its data (AOF replayed) is an outage, not a loss.
    await redis.kill();
    // The lease manager's own heartbeat failed (not just another connection's): it saw the outage.
    const away = (n: ClusterNodeProcess) => n.proc.logs.filter((l) => /^Redis does not answer/.test(l.msg)).length;
    await waitFor(() => nodes.every((n) => away(n) >= 1), 'both nodes to see Redis gone', 30_000);
    await redis.restart();
    // Logged by the heartbeat that reads the cluster's epoch: the check has run by then.
    await waitFor(() => nodes.every((n) => n.proc.logs.filter((l) => l.msg === 'Redis answers: the cluster is up').length >= 2), 'both nodes to see Redis back', 30_000);
    await settled(a, ['A', 'B']);
    for (const n of nodes) {
      expect(dataLost(n)).toEqual([]);
      expect(await counter(n)).toBe(0);
    }

    await redis.kill();
    await redis.restart({ empty: true });
    await waitFor(() => nodes.every((n) => dataLost(n).length > 0), `both nodes to log ${CODE}`, 30_000);
    await settled(a, ['A', 'B']);
    for (const n of nodes) {
      const lines = dataLost(n);
      expect(lines).toHaveLength(1);
      const line = lines[0]!;
      expect(line.level).toBe(50);
      expect(line.msg).toMatch(/Redis came back without the cluster's data/);
      expect(line.msg).toMatch(/armed zones/);
      expect(line.msg).toMatch(/minimum on\/off/);
      expect(line.msg).toMatch(/sagas/);
      expect(line.msg).toMatch(/fenc/);
      expect(line.msg).toMatch(/--appendonly yes --appendfsync always/);
      expect(line['previousEpoch']).toEqual(expect.any(String));
      expect(line['epoch']).toEqual(expect.any(String));
      expect(line['epoch']).not.toBe(line['previousEpoch']);
      expect(await counter(n)).toBe(1);
    }
    // Both adopted the one new epoch (whichever node saw the empty Redis first set it).
    expect(dataLost(a)[0]!['epoch']).toBe(dataLost(b)[0]!['epoch']);
  });
});
