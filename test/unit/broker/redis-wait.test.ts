/**
 * A cluster node's broker against a real redis-server that is stopped: what its sessions' store
 * reports is named as Redis' failure (StoreUnavailableError, GW_ERR_REDIS_UNREACHABLE), which
 * counts as `store_unavailable`, never as a client's `protocol_error`; and the wait for Redis
 * ends false past its bound, true once Redis is back.
 */
import { EventEmitter } from 'node:events';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorRefusal, StoreUnavailableError } from '../../../gateway/broker/client-errors.js';
import { readiness, redisFailuresNamed, waitingForRedis } from '../../../gateway/broker/redis-wait.js';
import { connectRedis } from '../../../gateway/core/redis.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

interface Store {
  subscriptionsByClient(client: { id: string }): Promise<unknown[]>;
  createRetainedStream(pattern: string): AsyncIterable<unknown>;
}

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

/** A sessions' connection that was ready, and its wait for Redis, once Redis is killed. */
async function sessionsWithRedisGone(name: string) {
  const conn = connectRedis(redis.url, name, { maxRetriesPerRequest: 20, commandTimeout: 500 });
  conn.on('error', () => undefined);
  const sessionsReady = readiness(conn);
  await waitFor(() => conn.status === 'ready', 'the connection');
  await redis.kill();
  await waitFor(() => conn.status !== 'ready', 'ioredis to see Redis gone');
  return { conn, sessionsReady };
}

describe('the sessions\' store while Redis is down', () => {
  it('names its failures as Redis\', counted as store_unavailable; the wait for Redis ends with its bound or with Redis back', async () => {
    const conn = connectRedis(redis.url, 'test-sessions', { maxRetriesPerRequest: 20, commandTimeout: 500 });
    conn.on('error', () => undefined);
    try {
      const ready = readiness(conn);
      await waitFor(() => conn.status === 'ready', 'the connection');
      expect(await ready(10)).toBe(true);
      const store = redisFailuresNamed(aedesPersistenceRedis({ conn }) as unknown as Store);
      expect(await store.subscriptionsByClient({ id: 'x' })).toEqual([]);

      await redis.kill();
      await waitFor(() => conn.status !== 'ready', 'ioredis to see Redis gone');
      const failed = await store.subscriptionsByClient({ id: 'x' }).then(() => undefined, (err: unknown) => err);
      expect(failed).toBeInstanceOf(StoreUnavailableError);
      expect((failed as StoreUnavailableError).code).toBe('GW_ERR_REDIS_UNREACHABLE');
      expect(clientErrorRefusal(failed as StoreUnavailableError, 0)).toMatchObject({ reason: 'store_unavailable' });
      // What ioredis said, bare, is what used to be counted as the client's protocol error.
      expect(clientErrorRefusal((failed as StoreUnavailableError).cause as Error, 0)).toMatchObject({ reason: 'protocol_error' });
      const streamed = await (async () => {
        for await (const _ of store.createRetainedStream('#')) void _;
      })().then(() => undefined, (err: unknown) => err);
      expect(streamed).toBeInstanceOf(StoreUnavailableError);

      expect(await ready(100)).toBe(false);
      const waiting = ready(60_000);
      await redis.restart();
      expect(await waiting).toBe(true);
      expect(await store.subscriptionsByClient({ id: 'x' })).toEqual([]);
    } finally {
      conn.disconnect();
    }
  });

  it('refuses, counted, a client still there when the wait ends; one that left meanwhile is not counted (found by a review)', async () => {
    const { conn, sessionsReady } = await sessionsWithRedisGone('test-wait');
    try {
      const refused: string[] = [];
      // The access's hooks: credentials check out (that part is access.ts' own tests').
      const access = { hooks: { authenticate: (_c: unknown, _u: unknown, _p: unknown, done: (e: null, ok: boolean) => void) => done(null, true) }, refuse: (_r: 'store_unavailable', c: { id: string }) => void refused.push(c.id) };
      const authenticate = waitingForRedis(access, { sessionsReady }, 50);
      const answer = (client: { id: string; closed: boolean }): Promise<boolean> => new Promise((resolve) => authenticate(client as never, 'u', Buffer.from('p'), (_err, ok) => resolve(ok === true)));
      const staying = { id: 'staying', closed: false };
      const leaving = { id: 'leaving', closed: false };
      const answers = [answer(staying), answer(leaving)];
      leaving.closed = true;
      expect(await Promise.all(answers)).toEqual([false, false]);
      expect(refused).toEqual(['staying']);
      await redis.restart();
    } finally {
      conn.disconnect();
    }
  });

  it('counts the clients waiting, and lets one that leaves go at once, its wait and its count with it', async () => {
    const { conn, sessionsReady } = await sessionsWithRedisGone('test-wait-gone');
    try {
      const gauges = new Map<string, () => number>();
      const refused: string[] = [];
      const access = { hooks: { authenticate: (_c: unknown, _u: unknown, _p: unknown, done: (e: null, ok: boolean) => void) => done(null, true) }, refuse: (_r: 'store_unavailable', c: { id: string }) => void refused.push(c.id) };
      const authenticate = waitingForRedis(access, { sessionsReady }, 600_000, { readFrom: (source, read) => void gauges.set(source, read) });
      const socket = Object.assign(new EventEmitter(), { destroyed: false });
      const answered = new Promise<string>((resolve) => authenticate({ id: 'leaving', closed: false, conn: socket } as never, 'u', Buffer.from('p'), (err) => resolve(err?.message ?? 'accepted')));
      const staying = sessionsReady(600_000);
      expect(gauges.get('mqttWaitingForRedis')?.()).toBe(2);
      socket.destroyed = true;
      socket.emit('close');
      // Not after MQTT_REDIS_WAIT_MS (10 minutes here): now; not refused nor counted, since it left.
      expect(await answered).toMatch(/left while it waited/);
      expect(gauges.get('mqttWaitingForRedis')?.()).toBe(1);
      expect(refused).toEqual([]);
      await redis.restart();
      expect(await staying).toBe(true);
      expect(gauges.get('mqttWaitingForRedis')?.()).toBe(0);
    } finally {
      conn.disconnect();
    }
  });
});
