import { Redis, type RedisOptions } from 'ioredis';

/**
 * One way to connect to the cluster's Redis. Commands fail after `commandTimeoutMs` instead of
 * waiting for a reconnection that may take minutes: callers (leases, the forwarder) decide what
 * a failure means, and retry with backoff. Reconnection itself is ioredis' (every 100 ms to 2 s).
 */
export function connectRedis(url: string, name: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: name,
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    commandTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    ...options,
  });
}
