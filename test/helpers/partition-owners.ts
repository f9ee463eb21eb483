/**
 * Partition owners on a real redis-server, as cluster/node.ts runs them: a lease acquired by a
 * node, a PartitionWorker for it, entries added to the partition's stream.
 */
import type { Logger } from 'pino';
import type { HistorySeed } from '../../gateway/cluster/history-seed.js';
import type { Lease } from '../../gateway/cluster/leases.js';
import { PartitionWorker, type StreamEntry } from '../../gateway/cluster/partition-worker.js';
import { KEYS, withScripts } from '../../gateway/cluster/redis-keys.js';
import { systemClock } from '../../gateway/core/clock.js';
import { connectRedis } from '../../gateway/core/redis.js';
import type { RuleBounds } from '../../gateway/rules/bounds.js';
import type { RuleSet } from '../../gateway/rules/loader.js';
import type { RuleOutput } from '../../gateway/rules/outputs.js';
import type { CommandSettings } from '../../gateway/rules/runtime.js';
import { startRedis } from './redis.js';

/** The partition the owners rule. */
export const P = 0;

export async function partitionOwners(o: { rules: RuleSet; commands: CommandSettings; log: Logger; undo: (() => Promise<unknown>)[]; name: string; bounds?: Partial<RuleBounds> }) {
  const redis = await startRedis();
  o.undo.push(() => redis.stop());
  const conn = connectRedis(redis.url, o.name);
  conn.on('error', () => undefined);
  o.undo.push(async () => conn.disconnect());
  const script = withScripts(conn);
  const acquire = async (node: string): Promise<Lease> => {
    await conn.del(KEYS.lease(P));
    const [token] = (await script('acquire', [KEYS.lease(P), KEYS.fence(P)], [node, 60_000])) as [number, string];
    return { partition: P, token, holder: `${node}|${token}`, validUntil: Date.now() + 60_000, acquiredAt: Date.now() };
  };
  const worker = (lease: Lease, sent: RuleOutput[], logger = o.log, rules = o.rules, seed?: HistorySeed): PartitionWorker => {
    const w = new PartitionWorker({ lease, redis: conn, script, rules, commands: o.commands, clock: systemClock, log: logger, staleAfterMs: 300_000, send: async (out) => void sent.push(out), fenced: () => undefined, bounds: o.bounds, ...(seed ? { seed } : {}) });
    o.undo.push(() => w.stop());
    return w;
  };
  const add = async (line: string): Promise<StreamEntry> => {
    const at = String(Date.now());
    const id = (await conn.xadd(KEYS.stream(P), '*', 'l', line, 'a', at, 'n', 'N'))!;
    return [id, ['l', line, 'a', at, 'n', 'N']];
  };
  return { conn, acquire, worker, add };
}
