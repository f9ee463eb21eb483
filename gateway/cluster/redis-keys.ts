import type { Redis } from 'ioredis';

/**
 * Every key the cluster keeps in Redis, and the Lua scripts that change them atomically.
 * Times in scripts are Redis' own (`TIME`), so nodes' clocks never have to agree.
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `gw:config` | hash | `partitions`: fixed by the first node |
 * | `gw:epoch` | string | a random id set by the first node: gone or changed means Redis lost the cluster's data (restarted empty) |
 * | `gw:data-lost` | string | the epoch that began with that loss, set by the nodes that saw it: a partition without state is then rebuilt from InfluxDB (cluster/history-seed.ts) |
 * | `gw:nodes` | sorted set | live node ids, scored by when their membership expires |
 * | `gw:node:<id>` | string (PX) | the node's run id and addresses (the cluster view) |
 * | `gw:lease:<p>` | string (PX) | `<node>|<token>`: the partition's owner |
 * | `gw:fence:<p>` | integer | the partition's latest fencing token |
 * | `gw:stream:<p>` | stream | readings, armed zones and actuator reports of the partition's sites, and every device's status messages (to every partition: they name no site), forwarded from every node's spool; alarm acknowledgements from any node |
 * | `gw:state:<p>` | hash | the partition's rule state (rules/shared-state.ts), its `cursor` (last entry ruled) and `clock` (timers fired up to) |
 * | `gw:outbox:<p>` | hash | the rules' outputs (commands, alerts, alarm transitions, saga steps, resends) committed but not yet sent (a new owner sends them) |
 * | `gw:live` | channel | the live view's updates from every node |
 * | `gw:client:<id>` | string (EX) | the Aedes broker id a client connected to last (broker/cluster-wills.ts: which wills are stale) |
 * | `gw:id:<id>` | string (EX) | `<c or a>|<broker>|<token>|<credential>`: the credential holding a client id, connected or its session away (broker/cluster-ids.ts) |
 * | `gw:live:devices`, `gw:live:said` | hash (and `:seen`, a sorted set) | the live view's last reading of each device and kind; each device's last status and silence, each actuator's last report |
 */
export const KEYS = {
  config: 'gw:config',
  epoch: 'gw:epoch',
  dataLost: 'gw:data-lost',
  nodes: 'gw:nodes',
  node: (id: string) => `gw:node:${id}`,
  lease: (p: number) => `gw:lease:${p}`,
  fence: (p: number) => `gw:fence:${p}`,
  stream: (p: number) => `gw:stream:${p}`,
  state: (p: number) => `gw:state:${p}`,
  outbox: (p: number) => `gw:outbox:${p}`,
  live: 'gw:live',
  liveDevices: 'gw:live:devices',
  /** The same fields, scored by when a node last heard them: which to forget first. */
  liveDevicesSeen: 'gw:live:devices:seen',
  /** What devices last said of themselves (status, silence) and actuators last reported, for a starting node's live view; `:seen` as above. */
  liveSaid: 'gw:live:said',
  liveSaidSeen: 'gw:live:said:seen',
} as const;

/** Lua: `epoch` is the cluster's epoch at KEYS[3], set to ARGV[4] when there is none (a first node, or Redis back empty). */
const EPOCH_LUA = `local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', KEYS[3], epoch)
end`;

const SCRIPTS = {
  /** KEYS nodes, node, epoch; ARGV id, ttlMs, info, a new epoch (set if none) → [redisNowMs, epoch, live ids…] */
  heartbeat: {
    keys: 3,
    lua: `${EPOCH_LUA}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, epoch)
table.insert(out, 1, tostring(now))
return out`,
  },
  /** KEYS lease, fence; ARGV node, ttlMs → token (> 0), or 0 and the holder. A lease of this node's earlier run is taken at once. */
  acquire: {
    keys: 2,
    lua: `local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '|' then return {0, cur} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return {token, ''}`,
  },
  /**
   * `acquire` in the epoch this node knows: KEYS lease, fence, epoch, data-lost; ARGV node, ttlMs, known epoch, a new epoch (set if
   * none) → [token or 0, holder, epoch]. Another epoch (Redis lost its data since this node's last heartbeat) is marked lost in the
   * same step, before the lease exists: its new owner rebuilds it from InfluxDB, not from nothing.
   */
  acquireInEpoch: {
    keys: 4,
    lua: `${EPOCH_LUA}
if epoch ~= ARGV[3] then redis.call('SET', KEYS[4], epoch) end
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '|' then return {0, cur, epoch} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return {token, '', epoch}`,
  },
  /** KEYS lease; ARGV holder, ttlMs → 1 renewed, 0 lost */
  renew: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`,
  },
  /** KEYS lease; ARGV holder → 1 released, 0 not ours */
  release: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`,
  },
  /**
   * The fenced write: KEYS fence, state, outbox, stream; ARGV token, n, n field/value pairs, d, d
   * fields to delete, m, m outbox key/json pairs, trim-min-id ('' = none) → 1 written, 0 refused
   * (a newer token exists).
   */
  commit: {
    keys: 4,
    lua: `if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
local n = tonumber(ARGV[2])
local i = 3
if n > 0 then redis.call('HSET', KEYS[2], unpack(ARGV, i, i + 2 * n - 1)) end
i = i + 2 * n
local d = tonumber(ARGV[i])
i = i + 1
if d > 0 then redis.call('HDEL', KEYS[2], unpack(ARGV, i, i + d - 1)) end
i = i + d
local m = tonumber(ARGV[i])
i = i + 1
if m > 0 then redis.call('HSET', KEYS[3], unpack(ARGV, i, i + 2 * m - 1)) end
i = i + 2 * m
if ARGV[i] and ARGV[i] ~= '' then redis.call('XTRIM', KEYS[4], 'MINID', ARGV[i]) end
return 1`,
  },
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** The scripts as commands of one connection (ioredis sends EVALSHA, and EVAL when Redis lost them). */
export function withScripts(redis: Redis): (name: ScriptName, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown> {
  for (const [name, s] of Object.entries(SCRIPTS)) redis.defineCommand(`gw_${name}`, { numberOfKeys: s.keys, lua: s.lua });
  const commands = redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
  return (name, keys, args) => commands[`gw_${name}`]!(...keys, ...args);
}
