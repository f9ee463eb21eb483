import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type mqemitter from 'mqemitter';
import mqemitterRedis from 'mqemitter-redis';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import type { Logger } from 'pino';
import { connectRedis } from '../core/redis.js';
import { logWarn } from '../core/errors.js';
import type { RedisStore } from './cluster-persistence.js';
import { readiness, type SessionsReady } from './redis-wait.js';

export { waitingForRedis } from './redis-wait.js';
import { tuneMessageBus } from './queue.js';

/**
 * What makes several gateways' brokers one broker (REDIS_URL): Aedes' message bus on Redis
 * Pub/Sub (mqemitter-redis: a publish on any node reaches subscribers on every node) and its
 * persistence in Redis (aedes-persistence-redis: sessions, subscriptions, retained messages,
 * wills, offline queues), so a device or actuator may connect to any node and a client id is
 * one session across the cluster.
 *
 * Redis Pub/Sub is at most once, and Aedes acknowledges a QoS 1 publish before it forwards it:
 * broker fan-out is never the durable path (the spool is). While Redis is away, a publish is
 * delivered to this node's own subscribers and the publisher is not held up: ingest goes on.
 */
export interface ClusterBus {
  readonly mq: mqemitter.MQEmitter;
  /** aedes-persistence-redis' store, wrapped in the bounds by cluster-persistence.ts. */
  readonly persistence: RedisStore;
  /** Its connection (the offline queues are trimmed through it). */
  readonly sessions: Redis;
  /** Resolves true once the sessions' connection is ready (at once if it is), false after `ms` or once the waiting client left. */
  readonly sessionsReady: SessionsReady;
  /** The Aedes id of this run: the node id and a random part, so wills of an earlier run of the same node are another broker's. */
  readonly brokerId: string;
  /** Since when this node hears the bus (its subscriber's connection ready, so other brokers' heartbeats arrive); undefined while it does not. */
  readonly hearingSince: () => number | undefined;
  close(): Promise<void>;
}

/** `packetTtlS`: how long a queued packet's body lives in Redis (a queue trimmed past its bound leaves bodies behind until then). */
/** `onLocalOnly` is called for each message delivered only on this node (Redis away, or refusing the publish): a metric counts them. */
export function createClusterBus(redisUrl: string, nodeId: string, log: Logger, packetTtlS = 7 * 24 * 3600, onLocalOnly?: () => void): ClusterBus {
  // Pub/Sub connections queue nothing while disconnected: we look at `status` first instead.
  // Auto-pipelining: one socket write for all the publishes of an event-loop turn (what mqemitter-redis sets on connections it makes).
  const pubConn = connectRedis(redisUrl, `gw-${nodeId}-mq-pub`, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
  const subConn = connectRedis(redisUrl, `gw-${nodeId}-mq-sub`, { maxRetriesPerRequest: null, commandTimeout: undefined });
  // Sessions wait for Redis rather than fail at once: a CONNECT during a short outage completes after it.
  const persistConn = connectRedis(redisUrl, `gw-${nodeId}-sessions`, { maxRetriesPerRequest: 20, commandTimeout: 10_000 });
  const conns: Redis[] = [pubConn, subConn, persistConn];
  for (const c of conns) c.on('error', () => undefined); // reported by the cluster's health check, not per reconnect attempt
  let hearing: number | undefined;
  subConn.on('ready', () => (hearing = Date.now()));
  subConn.on('close', () => (hearing = undefined));
  const mq = tuneMessageBus(mqemitterRedis({ pubConn, subConn, concurrency: 1000, matchEmptyLevels: true }) as unknown as mqemitter.MQEmitter);
  // mqemitter-redis re-emits connection errors on `state`; unheard, an EventEmitter would throw them.
  (mq as unknown as { state: { on(event: 'error', fn: () => void): void } }).state.on('error', () => undefined);
  const local = (): void => onLocalOnly?.();
  let warned = false;
  const inner = mq as unknown as { _emit(msg: mqemitter.Message, done?: (err?: Error) => void): void; emit(msg: mqemitter.Message, done?: (err?: Error) => void): void };
  const redisEmit = inner.emit.bind(mq);
  inner.emit = (msg, done) => {
    if (pubConn.status !== 'ready') {
      local();
      if (!warned) {
        warned = true;
        logWarn(log, 'GW_ERR_REDIS_UNREACHABLE', { status: pubConn.status }, 'Redis is away: messages reach this node\'s subscribers only until it is back');
      }
      inner._emit(msg, () => done?.());
      return;
    }
    warned = false;
    redisEmit(msg, (err) => {
      if (err) {
        // Lost to the cluster (Pub/Sub is at most once anyway); never an error for the publisher.
        local();
        inner._emit(msg, () => done?.());
        return;
      }
      done?.();
    });
  };
  const persistence = aedesPersistenceRedis({ conn: persistConn, packetTTL: () => packetTtlS }) as unknown as RedisStore;
  return {
    mq,
    persistence,
    sessions: persistConn,
    sessionsReady: readiness(persistConn),
    brokerId: `${nodeId}-${randomBytes(4).toString('hex')}`,
    hearingSince: () => hearing,
    async close() {
      await new Promise<void>((resolve) => mq.close(() => resolve()));
      await persistConn.quit().catch(() => persistConn.disconnect());
    },
  };
}
