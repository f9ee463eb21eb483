/** Leases, membership and the fenced write, against a real redis-server. */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionsFor } from '../../../gateway/core/partition.js';
import { LeaseManager, type Lease } from '../../../gateway/cluster/leases.js';
import { KEYS, withScripts } from '../../../gateway/cluster/redis-keys.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
let redis: TestRedis;
const conns: Redis[] = [];
const connect = (): Redis => {
  const c = new Redis(redis.url);
  conns.push(c);
  return c;
};
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await redis.stop();
});

function manager(nodeId: string, db: Redis, partitions = 6): { m: LeaseManager; held: Map<number, Lease>; events: string[]; lines: Record<string, unknown>[] } {
  const held = new Map<number, Lease>();
  const events: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logged = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const m = new LeaseManager({ redis: db, nodeId, runId: `${nodeId}-run`, partitions, leaseMs: 600, info: () => ({}), log: logged });
  void m
    .join({
      acquired: async (l) => {
        held.set(l.partition, l);
        events.push(`+${l.partition}`);
      },
      release: async (l, reason) => {
        held.delete(l.partition);
        events.push(`-${l.partition}:${reason}`);
      },
    })
    .catch(() => undefined);
  return { m, held, events, lines };
}

describe('the fenced write', () => {
  it('writes with the partition\'s latest token and refuses an older one, changing nothing', async () => {
    const db = connect();
    await db.flushall();
    const script = withScripts(db);
    const p = 3;
    const first = (await script('acquire', [KEYS.lease(p), KEYS.fence(p)], ['A', 10_000])) as [number, string];
    expect(first[0]).toBe(1);
    const commit = (token: number, value: string) => script('commit', [KEYS.fence(p), KEYS.state(p), KEYS.outbox(p), KEYS.stream(p)], [token, 1, 'act|hq/f1/hvac', value, 0, 1, 'cmd-1', '{}', '']);
    expect(await commit(1, 'first')).toBe(1);
    // B takes the partition over (A's lease expired while A was paused).
    await db.del(KEYS.lease(p));
    const second = (await script('acquire', [KEYS.lease(p), KEYS.fence(p)], ['B', 10_000])) as [number, string];
    expect(second[0]).toBe(2);
    expect(await commit(1, 'stale')).toBe(0);
    expect(await db.hget(KEYS.state(p), 'act|hq/f1/hvac')).toBe('first');
    expect(await commit(2, 'second')).toBe(1);
    expect(await db.hget(KEYS.state(p), 'act|hq/f1/hvac')).toBe('second');
    // A change without a value deletes its field (a cleared alarm, a saga that ended), fenced too.
    const drop = (token: number) => script('commit', [KEYS.fence(p), KEYS.state(p), KEYS.outbox(p), KEYS.stream(p)], [token, 0, 1, 'act|hq/f1/hvac', 0, '']);
    expect(await drop(1)).toBe(0);
    expect(await db.hget(KEYS.state(p), 'act|hq/f1/hvac')).toBe('second');
    expect(await drop(2)).toBe(1);
    expect(await db.hget(KEYS.state(p), 'act|hq/f1/hvac')).toBeNull();
  });

  it('gives a held lease to nobody else, but to a new run of the same node at once (with a new token)', async () => {
    const db = connect();
    await db.flushall();
    const script = withScripts(db);
    expect(((await script('acquire', [KEYS.lease(0), KEYS.fence(0)], ['A', 10_000])) as [number])[0]).toBe(1);
    expect(await script('acquire', [KEYS.lease(0), KEYS.fence(0)], ['B', 10_000])).toEqual([0, 'A|1']);
    expect(((await script('acquire', [KEYS.lease(0), KEYS.fence(0)], ['A', 10_000])) as [number])[0]).toBe(2);
    expect(await script('renew', [KEYS.lease(0)], ['A|1', 10_000])).toBe(0);
    expect(await script('renew', [KEYS.lease(0)], ['A|2', 10_000])).toBe(1);
  });
});

describe('leases', () => {
  it('splits the partitions as rendezvous hashing says, and the survivor takes a dead node\'s over once its leases expire', async () => {
    const db = connect();
    await db.flushall();
    const a = manager('A', connect());
    const b = manager('B', connect());
    await waitFor(() => a.held.size + b.held.size === 6 && a.m.liveNodes.length === 2 && b.m.liveNodes.length === 2 && a.held.size === partitionsFor('A', ['A', 'B'], 6).length, 'the partitions split between A and B', 10_000);
    expect([...a.held.keys()].sort()).toEqual(partitionsFor('A', ['A', 'B'], 6));
    expect([...b.held.keys()].sort()).toEqual(partitionsFor('B', ['A', 'B'], 6));
    // B stops renewing without letting go (as if killed): A gets everything after the leases run out.
    const bParts = [...b.held.keys()];
    b.m['stopped'] = true;
    clearInterval(b.m['timer']);
    await waitFor(() => a.held.size === 6, 'A to own every partition', 10_000);
    for (const p of bParts) expect(a.held.get(p)!.token).toBeGreaterThan(1);
    // A's log says why it took them: B's lease expired.
    for (const p of bParts) {
      const acquired = a.lines.filter((l) => l['msg'] === 'partition acquired' && l['partition'] === p).at(-1);
      expect(acquired).toMatchObject({ previousOwner: 'B', why: expect.stringMatching(/B left the cluster: its lease expired/) });
    }
    await a.m.stop();
    expect(a.events.filter((e) => e.endsWith(':stopping'))).toHaveLength(6);
  });

  it('refuses to join with another PARTITIONS than the cluster has', async () => {
    const db = connect();
    await db.flushall();
    await db.hset(KEYS.config, 'partitions', '16');
    const m = new LeaseManager({ redis: db, nodeId: 'X', runId: 'x', partitions: 8, leaseMs: 1000, info: () => ({}), log });
    await expect(m.join({ acquired: async () => undefined, release: async () => undefined })).rejects.toThrow(/GW_ERR_CLUSTER: PARTITIONS=8, but the cluster on this Redis has 16/);
  });
});

describe('Redis restarted empty between a heartbeat and the renewals of the same tick', () => {
  it('marks the loss (gw:data-lost) before a partition is taken again, though no heartbeat saw the new epoch yet', async () => {
    const own = await startRedis();
    const db = new Redis(own.url);
    const flusher = new Redis(own.url);
    try {
      const taken: { partition: number; token: number; lost: number }[] = [];
      let flushed = false;
      // Redis loses everything right after the heartbeat's reply (the heartbeat saw the old epoch).
      const commands = db as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const m = new LeaseManager({ redis: db, nodeId: 'A', runId: 'A-run', partitions: 2, leaseMs: 600, info: () => ({}), log });
      const heartbeat = commands['gw_heartbeat']!.bind(db);
      commands['gw_heartbeat'] = async (...a: unknown[]) => {
        const reply = await heartbeat(...a);
        if (taken.length === 2 && !flushed) {
          flushed = true;
          await flusher.flushall();
        }
        return reply;
      };
      await m.join({
        // What the partition worker reads first: is its empty state one Redis lost?
        acquired: async (l) => void taken.push({ partition: l.partition, token: l.token, lost: await db.exists(KEYS.dataLost) }),
        release: async () => undefined,
      });
      await waitFor(() => taken.length >= 4, 'both partitions taken again after the loss', 10_000);
      await m.stop();
      expect(flushed).toBe(true);
      expect(taken.slice(0, 2).map((t) => t.lost)).toEqual([0, 0]);
      // Taken again with token 1 (the fences went with the data): the loss is marked first.
      expect(taken.slice(2, 4)).toEqual([expect.objectContaining({ token: 1, lost: 1 }), expect.objectContaining({ token: 1, lost: 1 })]);
    } finally {
      db.disconnect();
      flusher.disconnect();
      await own.stop();
    }
  });
});
