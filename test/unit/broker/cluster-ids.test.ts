/**
 * Client ids' holders across a cluster's nodes (gateway/broker/cluster-ids.ts), on a real
 * redis-server: two nodes' ClusterIds, each on its own connection; Redis failing a claim does not
 * lock the client out (admitted by the node's own view, logged once), and a connected client's hold
 * lost by Redis is written again at the next refresh.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../../gateway/broker/acl.js';
import { ClusterIds, idKey } from '../../../gateway/broker/cluster-ids.js';
import { connectRedis } from '../../../gateway/core/redis.js';
import { startRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
});

async function nodes() {
  const redis = await startRedis();
  undo.push(() => redis.stop());
  const principals = new WeakMap<Client, Principal>();
  const refused: string[] = [];
  const access = { principal: (c: Client) => principals.get(c), refuse: (_r: 'client_id_taken', _c: Client, d: string) => void refused.push(d), roleOf: () => 'native' as const, ids: { ended: () => undefined } };
  const node = (id: string) => {
    const warnings: unknown[] = [];
    const log = { warn: (fields: unknown) => void warnings.push(fields) } as unknown as Logger;
    // Fails at once while Redis is away (the broker's waits for it first: redis-wait.ts).
    const conn = connectRedis(redis.url, `test-ids-${id}`, { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 1000 });
    conn.on('error', () => undefined);
    undo.push(async () => conn.disconnect());
    const ids = new ClusterIds(conn, { sessionExpiryS: 60, log, refreshMs: 100 });
    const broker = Object.assign(new EventEmitter(), { id: `${id}-run` });
    ids.setup(broker as unknown as Aedes);
    undo.push(async () => void broker.emit('closed'));
    const authenticate = ids.holding((_client, _u, _p, done) => done(null, true), access);
    /** Connects `name` as `clientId`: the CONNACK code it gets, and its connection. */
    const connect = async (name: string, clientId: string, clean = false) => {
      const client = { id: clientId, clean, conn: new PassThrough() } as unknown as Client;
      undo.push(async () => client.conn.destroy());
      principals.set(client, { name, role: 'native', anonymous: false });
      const code = await new Promise<number>((resolve) => authenticate(client, name, Buffer.alloc(0), (err, ok) => resolve(ok ? 0 : (err?.returnCode ?? -1))));
      if (code === 0) broker.emit('client', client);
      return { code, conn: client.conn };
    };
    return { connect, conn, warnings };
  };
  const [a, b] = [node('A'), node('B')];
  await waitFor(() => a.conn.status === 'ready' && b.conn.status === 'ready', 'both connections');
  return { redis, refused, a, b };
}

describe('client ids held across nodes', () => {
  it('another credential is refused on another node, its own credential is not; Redis failing a claim admits, logged once; a lost hold is written again', async () => {
    const { redis, refused, a, b } = await nodes();
    const first = await a.connect('plug-1', 'DVES_X');
    expect(first.code).toBe(0);
    expect((await b.connect('plug-2', 'DVES_X')).code).toBe(2);
    expect(refused[0]).toContain('"plug-1"');
    const own = await b.connect('plug-1', 'DVES_X');
    expect(own.code, 'its own credential, on another node').toBe(0);
    // Aedes' cluster closes the connection taken over; its close leaves the new hold alone.
    first.conn.destroy();
    expect(await a.conn.get(idKey('DVES_X'))).toMatch(/^c\|B-run\|[0-9a-f]+\|plug-1$/);

    // Redis away: admitted by the node's own view, one warning for two claims.
    await redis.kill();
    await waitFor(() => b.conn.status !== 'ready', 'ioredis to see Redis gone');
    expect((await b.connect('plug-2', 'DVES_Y')).code).toBe(0);
    expect((await b.connect('plug-2', 'DVES_Z')).code).toBe(0);
    // B's (A's refresh may have failed too, and said so once).
    expect(b.warnings).toHaveLength(1);
    expect(b.warnings[0]).toMatchObject({ code: 'GW_ERR_REDIS_UNREACHABLE' });

    // Back, and empty (its data lost): the connected clients' holds are written again.
    await redis.restart();
    await waitFor(() => a.conn.status === 'ready' && b.conn.status === 'ready', 'both connections back');
    await a.conn.flushall();
    await waitFor(async () => (await a.conn.get(idKey('DVES_Y')))?.endsWith('|plug-2') && (await a.conn.get(idKey('DVES_X')))?.endsWith('|plug-1'), 'the holds written again');
    expect((await a.connect('plug-1', 'DVES_Y')).code).toBe(2);

    // Closed: a persistent session (registered) is held while away; a clean client's id is free.
    own.conn.destroy();
    await waitFor(async () => (await a.conn.get(idKey('DVES_X')))?.startsWith('a|B-run|'), 'held as a session away');
    expect(await a.conn.ttl(idKey('DVES_X'))).toBeGreaterThan(60);
    const clean = await a.connect('plug-1', 'DVES_C', true);
    expect(clean.code).toBe(0);
    clean.conn.destroy();
    await waitFor(async () => (await a.conn.exists(idKey('DVES_C'))) === 0, 'a clean client’s hold gone');
  });
});
