import type { Redis } from 'ioredis';
import { RECONNECT_MAX_MS } from '../core/redis.js';
import { StoreUnavailableError } from './client-errors.js';

/**
 * Which wills of other brokers a cluster node publishes. Aedes (1.2, aedes.js `_clearWills`)
 * publishes every stored will whose broker sent no heartbeat in 3 intervals, and deletes it after;
 * alone, that made three mistakes (found from outside, test/fault/cluster-wills.test.ts):
 *
 * - after a Redis outage, no node had heard another's heartbeats, so each published the wills of
 *   the others' clients, all still connected (and its own sweeps, queued by ioredis during the
 *   outage, all ran at once when Redis was back: each will several times);
 * - every survivor published a dead node's wills (each one once per survivor);
 * - a client back on a survivor before the dead node's wills went out still got its old will
 *   published after its new `online`: Aedes' CONNECT deletes the client's will under the broker
 *   id the client object has, which is none, so the dead broker's stayed.
 *
 * So a node judges others only once it has heard the bus for as long as a live broker needs to be
 * heard again (3 heartbeats, after ioredis' longest reconnection delay); a will is claimed in one
 * Redis script, so one node publishes it; a CONNECT records the broker the client is on
 * (`gw:client:<id>`) and deletes the will a previous broker holds for it; and a broker's own
 * clients' wills are its own to publish, when they close (Aedes does), never from the store.
 */

/** aedes-persistence-redis 12's keys: the list of will keys, and a will's key. */
const WILL_LIST = 'will';
const willKey = (brokerId: string, clientId: string): string => `will:${brokerId}:${encodeURIComponent(clientId)}`;
/** The broker a client connected to last (EX: forgotten after the sessions' TTL). */
export const clientKey = (clientId: string): string => `gw:client:${encodeURIComponent(clientId)}`;

/**
 * KEYS client, will list; ARGV broker, ttlS, encoded client id, '1' when the client has a will →
 * the broker it was on before (or nil). Only a client with a will is recorded (its will is what a
 * sweep may claim): a clean client with a fresh random id each time leaves no key behind.
 */
const CONNECTED = `local prev = redis.call('GET', KEYS[1])
if ARGV[4] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) elseif prev then redis.call('DEL', KEYS[1]) end
if prev and prev ~= ARGV[1] then
  local will = 'will:' .. prev .. ':' .. ARGV[3]
  redis.call('LREM', KEYS[2], 0, will)
  redis.call('DEL', will)
end
return prev`;

/** KEYS will, will list, client; ARGV the will's broker → 1: this node publishes it; 0: another did, or the client is elsewhere since. */
const CLAIM = `redis.call('LREM', KEYS[2], 0, KEYS[1])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local on = redis.call('GET', KEYS[3])
if on and on ~= ARGV[1] then return 0 end
if on then redis.call('DEL', KEYS[3]) end
return 1`;

export interface WillPacket {
  readonly clientId: string;
  readonly brokerId: string;
}

export interface ClusterWillsOptions {
  readonly heartbeatMs: number;
  /** Since when this node hears the brokers' bus (its subscriber's last reconnection); undefined while it does not. */
  readonly hearingSince: () => number | undefined;
  /** ioredis' longest delay between reconnection attempts: another node may be back this much later than this one. */
  readonly reconnectMaxMs?: number;
  /** How long `gw:client:<id>` is kept, s (7 days: as long as a queued packet's body). */
  readonly clientTtlS?: number;
  now?(): number;
}

type Commands = Record<'gw_will_connected' | 'gw_will_claim', (...args: (string | number)[]) => Promise<unknown>>;

export class ClusterWills {
  private readonly commands: Commands;

  constructor(
    redis: Redis,
    private readonly o: ClusterWillsOptions,
  ) {
    redis.defineCommand('gw_will_connected', { numberOfKeys: 2, lua: CONNECTED });
    redis.defineCommand('gw_will_claim', { numberOfKeys: 3, lua: CLAIM });
    this.commands = redis as unknown as Commands;
  }

  /** Whether this node has heard the bus long enough that a broker it has not heard is dead (not merely unheard while Redis was away). */
  judging(): boolean {
    const since = this.o.hearingSince();
    return since !== undefined && (this.o.now?.() ?? Date.now()) - since >= 3 * this.o.heartbeatMs + (this.o.reconnectMaxMs ?? RECONNECT_MAX_MS);
  }

  /** A client connects to `brokerId` (before its CONNACK), with a will or not: the will a previous broker holds for it is stale. */
  async connected(clientId: string, brokerId: string, hasWill: boolean): Promise<void> {
    await this.commands.gw_will_connected(clientKey(clientId), WILL_LIST, brokerId, this.o.clientTtlS ?? 7 * 24 * 3600, encodeURIComponent(clientId), hasWill ? '1' : '0');
  }

  /** The wills Aedes found of brokers it has not heard that this node is to publish, each claimed (so published by one node only). */
  async *due<W extends WillPacket>(wills: AsyncIterable<W>, ownBrokerId: string): AsyncGenerator<W> {
    // A sweep made while the bus was away (ioredis runs it once Redis is back) judges nothing.
    if (!this.judging()) return;
    try {
      for await (const will of wills) {
        if (will.brokerId === ownBrokerId || !this.judging()) continue;
        const claimed = await this.commands.gw_will_claim(willKey(will.brokerId, will.clientId), WILL_LIST, clientKey(will.clientId), will.brokerId);
        if (claimed === 1) yield will;
      }
    } catch (err) {
      // Named (Redis away), so the broker reports it with its code, rate-limited (broker.ts).
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    }
  }
}
