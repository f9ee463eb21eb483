// aedes-persistence-redis 12 ships no types. Its main export wraps the async persistence in
// aedes-persistence's CallBackPersistence: promises, and the retained-message streams Aedes 1.2 pipes.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';

  export interface RedisPersistenceOptions {
    /** An ioredis connection made by the caller. */
    readonly conn?: Redis;
    readonly maxSessionDelivery?: number;
    readonly packetTTL?: (packet: unknown) => number;
  }

  function aedesPersistenceRedis(options?: RedisPersistenceOptions): { setup(broker: unknown): Promise<void> };
  export = aedesPersistenceRedis;
}
