import { PassThrough, Readable } from 'node:stream';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Redis } from 'ioredis';
import type { Metrics } from '../observability/metrics.js';
import { Refusal, StoreUnavailableError } from './client-errors.js';

const unavailable = (err: unknown): StoreUnavailableError => (err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err));

/**
 * The store with every failure it reports (a rejected promise, a stream's error) turned into a
 * StoreUnavailableError: ioredis says "Command timed out" or "max retries", which Aedes would
 * pass on as a client's (or its own) error of no known kind.
 */
export function redisFailuresNamed<T extends object>(store: T): T {
  // One wrapper per method, made once (the store is called per message queued for a session away).
  const wrapped = new Map<PropertyKey, { of: unknown; fn: (...args: unknown[]) => unknown }>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const known = wrapped.get(prop);
      if (known?.of === value) return known.fn;
      const fn = (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) return result.catch((err: unknown) => Promise.reject(unavailable(err)));
        if (result instanceof Readable) {
          const out = new PassThrough({ objectMode: true });
          result.once('error', (err) => out.destroy(unavailable(err)));
          // A reader that stops early (a client gone) stops the store's stream too.
          out.once('close', () => result.destroy());
          return result.pipe(out);
        }
        return result;
      };
      wrapped.set(prop, { of: value, fn });
      return fn;
    },
  });
}

/**
 * Waits for Redis: resolves true once `conn` is ready (at once if it is), false after `ms` or as
 * soon as `client` (a waiting CONNECT's socket) closes, its timer gone with it; one listener for
 * every waiter; `waiting`: how many wait now (a gauge).
 */
export type SessionsReady = ((ms: number, client?: Pick<NodeJS.EventEmitter, 'once' | 'off'>) => Promise<boolean>) & { readonly waiting: number };

export function readiness(conn: Redis): SessionsReady {
  const waiters = new Set<(ready: boolean) => void>();
  conn.on('ready', () => {
    for (const w of [...waiters]) w(true);
  });
  const wait = (ms: number, client?: Pick<NodeJS.EventEmitter, 'once' | 'off'>): Promise<boolean> => {
    if (conn.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (ready: boolean): void => {
        clearTimeout(timer);
        waiters.delete(finish);
        client?.off('close', left);
        resolve(ready);
      };
      const left = (): void => finish(false);
      const timer = setTimeout(left, ms);
      waiters.add(finish);
      client?.once('close', left);
    });
  };
  return Object.defineProperty(wait, 'waiting', { get: () => waiters.size }) as SessionsReady;
}

type Authenticate = NonNullable<AedesOptions['authenticate']>;

/**
 * A cluster node's CONNECT: once the client is authenticated (credentials are local), it waits
 * for Redis, where its session lives, up to `waitMs` (MQTT_REDIS_WAIT_MS); past that it is
 * refused with CONNACK 3 (server unavailable), counted and logged as `store_unavailable` (GW_ERR_REDIS_UNREACHABLE).
 */
export function waitingForRedis(
  access: { readonly hooks: { readonly authenticate: Authenticate }; refuse(reason: 'store_unavailable', client: Client, detail: string): void },
  bus: { readonly sessionsReady: SessionsReady },
  waitMs: number,
  metrics?: Pick<Metrics, 'readFrom'>,
): Authenticate {
  metrics?.readFrom('mqttWaitingForRedis', () => bus.sessionsReady.waiting);
  return (client, username, password, done) => {
    access.hooks.authenticate(client, username, password, (err, ok) => {
      if (err || !ok) return done(err, ok);
      // Its socket: a client that leaves stops waiting at once (its timer, its slot in the gauge).
      const conn = client.conn as (NodeJS.EventEmitter & { readonly destroyed?: boolean }) | undefined;
      void bus.sessionsReady(waitMs, conn).then((ready) => {
        if (ready) return done(null, true);
        // Gone while it waited: nobody to refuse, nothing to count (a reconnect loop would inflate the count).
        if (client.closed || conn?.destroyed === true) return done(new Refusal('the client left while it waited for Redis', 3) as AuthenticateError, false);
        const detail = `Redis, where sessions live, unreachable for ${waitMs} ms (MQTT_REDIS_WAIT_MS): CONNACK 3, server unavailable`;
        access.refuse('store_unavailable', client, detail);
        done(new Refusal(detail, 3) as AuthenticateError, false);
      });
    });
  };
}
