import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { partitionOf } from '../core/partition.js';
import { KEYS } from './redis-keys.js';

export interface ClusterRouteOptions {
  readonly redis: Redis;
  readonly partitions: number;
  readonly liveNodes: () => readonly string[];
  readonly readiness: () => { readonly ok: boolean; readonly node: string; readonly partitions: readonly number[]; readonly lagSeconds: Record<string, number> };
}

/**
 * `GET /api/cluster`: the nodes, each partition's owner and fencing token, and this node's status.
 * `?site=<site>` adds which partition the site is on and who rules it now (the hash is not for
 * people to work out by hand).
 */
export function clusterRoute(o: ClusterRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const live = o.liveNodes();
    const pipeline = o.redis.pipeline();
    for (const n of live) pipeline.get(KEYS.node(n));
    for (let p = 0; p < o.partitions; p++) pipeline.get(KEYS.lease(p));
    const results = (await pipeline.exec().catch(() => null)) ?? [];
    const value = (i: number): string | null => (results[i]?.[1] as string | null | undefined) ?? null;
    const nodes = live.map((id, i) => ({ id, ...(JSON.parse(value(i) ?? '{}') as Record<string, unknown>) }));
    const partitions = Array.from({ length: o.partitions }, (_, p) => {
      const [owner = null, token = null] = (value(live.length + p) ?? '').split('|');
      return { partition: p, owner: owner || null, token: token ? Number(token) : null };
    });
    const self = o.readiness();
    const site = new URL(req.url ?? '/', 'http://localhost').searchParams.get('site');
    const at = site ? partitionOf(site, o.partitions) : 0;
    const where = site ? { site: { site, partition: at, owner: partitions[at]?.owner ?? null } } : {};
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: self.node, redis: self.ok, nodes, partitions, here: { partitions: self.partitions, lagSeconds: self.lagSeconds }, ...where }));
  };
}
