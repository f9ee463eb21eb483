import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Aedes, AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { logWarn } from '../core/errors.js';
import type { Principal } from './acl.js';
import { Refusal } from './client-errors.js';
import type { Role } from './credentials.js';

/**
 * Which credential holds each client id, across a cluster's nodes (README "Client ids are
 * identities"). A node's own view (client-ids.ts) knows only its clients and the sessions left
 * there, and Aedes' cluster lets a CONNECT on any node take a client id's connection and session
 * over: another `native` plug connecting with a plug's `DVES_…` id on another node would take its
 * commands. So the holder is kept in Redis, `gw:id:<id>` = `<state>|<broker>|<token>|<credential>`
 * (state `c` connected, `a` its persistent session away; broker: the Aedes id of the node's run;
 * token: the connection's), claimed in one script per CONNECT (one round trip):
 *
 * - another credential's hold refuses the CONNECT (CONNACK 2, `client_id_taken`), unless that
 *   credential no longer exists (a plug moved to a new credential takes its id at once);
 * - a clean client's hold ends when it closes; a persistent one's is then its session's, kept
 *   MQTT_SESSION_EXPIRY_S (and a margin past the node's expiry sweep), and removed when the node
 *   it left ends the session (expiry, eviction); with MQTT_SESSION_EXPIRY_S=0, as long as the session;
 * - a connected client's hold is refreshed every minute, so the holds of a node that died go
 *   (a clean client's within HELD_S) and those Redis lost come back;
 * - a client connecting on another node takes the session it left here along: this node's own
 *   view forgets it (`elsewhere`).
 *
 * Redis failing the claim (away, timing out) does not lock devices out: the node admits by its own
 * view, logs once (GW_ERR_REDIS_UNREACHABLE), and writes the hold at the next refresh.
 */

/** KEYS id; ARGV credential, value, ttlS (0: none), a stale holder's value to replace ('' none) → nil: held now; else the holder's value. */
const CLAIM = `local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[4] and string.match(cur, '^[^|]*|[^|]*|[^|]*|(.*)$') ~= ARGV[1] then return cur end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) else redis.call('SET', KEYS[1], ARGV[2]) end
return false`;

/** KEYS id; ARGV value, next value ('' = delete), ttlS (0: none) → 1 if it was this value; with `refresh` ARGV[1] = ARGV[2], a missing hold is written again. */
const LEAVE = `local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] and not (cur == false and ARGV[1] == ARGV[2]) then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`;

/** KEYS id; ARGV broker → 1: the session away from this broker ended, its hold removed. */
const ENDED = `local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1]) + 3) == 'a|' .. ARGV[1] .. '|' then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

export const idKey = (clientId: string): string => `gw:id:${encodeURIComponent(clientId)}`;
/** A connected clean client's hold outlives its node by at most this (refreshed every REFRESH_MS). */
const HELD_S = 300;
const REFRESH_MS = 60_000;
/** Past the expiry sweep (every minute) of the node the session was left on. */
const MARGIN_S = 300;

type Commands = Record<'gw_id_claim' | 'gw_id_leave' | 'gw_id_ended', (...args: (string | number)[]) => Promise<unknown>>;
type Authenticate = NonNullable<AedesOptions['authenticate']>;

export interface ClusterIdsOptions {
  /** MQTT_SESSION_EXPIRY_S (0: a session away never expires). */
  readonly sessionExpiryS: number;
  readonly log?: Logger;
  readonly refreshMs?: number;
}

/** What the broker's access control tells of a client (access.ts). */
export interface IdAccess {
  principal(client: Client): Principal | undefined;
  refuse(reason: 'client_id_taken', client: Client, detail: string): void;
  /** A credential's role, undefined once removed: a removed credential holds no id. */
  roleOf(name: string): Role | undefined;
  /** The node's own view (client-ids.ts). */
  readonly ids: { ended(clientId: string): void };
}

interface Hold {
  readonly clientId: string;
  readonly value: string;
  readonly persistent: boolean;
}

export class ClusterIds {
  private readonly commands: Commands;
  private brokerId = '';
  /** This node's connected clients' holds, refreshed. */
  private readonly mine = new Map<Duplex, Hold>();
  private readonly registered = new WeakSet<Duplex>();
  private warned = false;
  private timer: NodeJS.Timeout | undefined;
  private local: IdAccess['ids'] | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly o: ClusterIdsOptions,
  ) {
    redis.defineCommand('gw_id_claim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('gw_id_leave', { numberOfKeys: 1, lua: LEAVE });
    redis.defineCommand('gw_id_ended', { numberOfKeys: 1, lua: ENDED });
    this.commands = redis as unknown as Commands;
  }

  /** The broker's id (per run), and its registrations: a persistent session exists once Aedes registered its client. */
  setup(broker: Aedes): void {
    this.brokerId = broker.id;
    broker.on('client', (client: Client) => void this.registered.add(client.conn));
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs ?? REFRESH_MS);
    this.timer.unref();
    broker.once('closed', () => clearInterval(this.timer));
  }

  /** Runs after `inner` (the node's own checks, then the wait for Redis): the id is claimed in Redis, or refused as another credential's. */
  holding(inner: Authenticate, access: IdAccess): Authenticate {
    this.local = access.ids;
    return (client, username, password, done) =>
      inner(client, username, password, (err, ok) => {
        const p = err || !ok ? undefined : access.principal(client);
        if (!p) return done(err, ok);
        void this.claim(client, p.anonymous ? '' : p.name, access).then((holder) => {
          if (holder === undefined) return done(null, true);
          const why = `client id ${JSON.stringify(client.id)} is held by ${holder ? `credential ${JSON.stringify(holder)}` : 'the anonymous clients'} (connected, or its persistent session, on a node of the cluster): another credential may not take it over`;
          access.refuse('client_id_taken', client, why);
          done(new Refusal(why, 2) as AuthenticateError, false);
        });
      });
  }

  /**
   * The client connected on another node: a session it left here is that node's now, and its hold
   * there in Redis; this node's view forgets it (else it would refuse another credential the id
   * after the session ended elsewhere).
   */
  elsewhere(clientId: string): void {
    this.local?.ended(clientId);
  }

  /** A session left on this node ended (expired, evicted): its id is free. */
  ended(clientId: string): void {
    this.commands.gw_id_ended(idKey(clientId), this.brokerId).catch((err: unknown) => this.unreachable(err, clientId));
  }

  /** → undefined: `name` holds the id now (or Redis could not say); else the credential holding it ('' = the anonymous clients). */
  private async claim(client: Client, name: string, access: IdAccess): Promise<string | undefined> {
    const persistent = !client.clean;
    const hold: Hold = { clientId: client.id, value: `c|${this.brokerId}|${randomBytes(6).toString('hex')}|${name}`, persistent };
    let stale = '';
    try {
      for (;;) {
        const cur = (await this.commands.gw_id_claim(idKey(client.id), name, hold.value, this.ttl(persistent, HELD_S), stale)) as string | null;
        this.warned = false;
        if (cur === null) break;
        const holder = cur.split('|').slice(3).join('|');
        // Held by a credential since removed: taken from it, if nobody changed it meanwhile.
        if (holder === '' || access.roleOf(holder) !== undefined || cur === stale) return holder;
        stale = cur;
      }
    } catch (err) {
      this.unreachable(err, client.id);
    }
    this.track(client.conn, hold);
    return undefined;
  }

  private track(conn: Duplex, hold: Hold): void {
    if (conn.destroyed) return void this.left(conn, hold);
    this.mine.set(conn, hold);
    conn.once('close', () => this.left(conn, hold));
  }

  /** Its connection closed: a clean client's hold ends; a persistent session's is kept while it is away. */
  private left(conn: Duplex, hold: Hold): void {
    this.mine.delete(conn);
    const away = hold.persistent && this.registered.has(conn) ? `a${hold.value.slice(1)}` : '';
    this.commands.gw_id_leave(idKey(hold.clientId), hold.value, away, this.ttl(true, 0)).catch((err: unknown) => this.unreachable(err, hold.clientId));
  }

  /** The holds of this node's connected clients, again (written anew where Redis lost them). */
  private async refresh(): Promise<void> {
    if (this.mine.size === 0 || this.redis.status !== 'ready') return;
    const holds = [...this.mine.values()];
    await this.redis
      .pipeline(holds.map((h) => ['gw_id_leave', idKey(h.clientId), h.value, h.value, this.ttl(h.persistent, HELD_S)]))
      .exec()
      .catch((err: unknown) => this.unreachable(err));
  }

  /** A persistent hold lasts as its session may (0: as long), a clean one `cleanS`. */
  private ttl(persistent: boolean, cleanS: number): number {
    if (!persistent) return cleanS;
    return this.o.sessionExpiryS > 0 ? this.o.sessionExpiryS + MARGIN_S : 0;
  }

  private unreachable(err: unknown, clientId?: string): void {
    if (this.warned) return;
    this.warned = true;
    logWarn(this.o.log, 'GW_ERR_REDIS_UNREACHABLE', { clientId, err: err instanceof Error ? err.message : String(err) }, 'Redis failed a client id check: until it answers again, this node admits client ids by its own clients and sessions only (README "Client ids are identities")');
  }
}
