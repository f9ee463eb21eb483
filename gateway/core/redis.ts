import { Redis, type RedisOptions } from 'ioredis';

/**
 * One way to connect to the cluster's Redis. Commands fail after `commandTimeoutMs` instead of
 * waiting for a reconnection that may take minutes: callers (leases, the forwarder) decide what
 * a failure means, and retry with backoff. Reconnection itself is ioredis' (every 100 ms to 2 s).
 */
/** The longest wait between reconnection attempts: after an outage, nodes are back within this of each other. */
export const RECONNECT_MAX_MS = 2000;

export function connectRedis(url: string, name: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: name,
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    commandTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, RECONNECT_MAX_MS),
    ...options,
  });
}
