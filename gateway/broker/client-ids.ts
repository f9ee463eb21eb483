import type { Duplex } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import type { Principal } from './acl.js';
import type { RefusalReason } from './refusals.js';

export interface ClientIdLimits {
  /** Authenticated clients at most, all credentials (MAX_CONNECTIONS; 0 = no limit). */
  readonly maxConnections: number;
  /** Authenticated clients of one credential, admins and anonymous clients excepted (0 = no limit). */
  readonly maxPerCredential: number;
  /** Whether a credential of that name exists now: one removed (renamed, rotated) holds no id. */
  readonly credentialExists?: (name: string) => boolean;
}

export interface IdRefusal {
  readonly reason: RefusalReason;
  readonly code: 2 | 3;
  readonly why: string;
}

/** The credential holding a client id ('' = the anonymous clients), as a snapshot keeps it. */
export interface HeldBy {
  readonly name: string;
  /** Held to the per-credential limits: not an admin (it speaks for many: the simulator), not anonymous. */
  readonly limited: boolean;
}

/** Who holds a client id: a credential, through its connection while connected. */
interface Holder extends HeldBy {
  readonly persistent: boolean;
  conn: Duplex | undefined;
  /** Aedes registered the client: a persistent session exists once it leaves. */
  registered: boolean;
}

const ANONYMOUS = '';
const keyOf = (p: Principal): string => (p.anonymous ? ANONYMOUS : p.name);
const who = (key: string): string => (key === ANONYMOUS ? 'the anonymous clients' : `credential ${JSON.stringify(key)}`);

/**
 * Client ids are identities held by one credential at a time (README "Who may talk"): MQTT lets a
 * newcomer with a client id in use take the connection and the session over ([MQTT-3.1.4-2]), and
 * with them what is queued for it. Credentials that pick their own ids (native firmware, bridges)
 * could otherwise take another device's id, or a session it left. So an id is held by the
 * credential that connected with it, while connected and, for a persistent session, until that
 * session ends (expiry, eviction); only that credential may connect with it, as MQTT says.
 * It also counts each credential's connections, so one that may use many ids cannot fill
 * MAX_CONNECTIONS. One gateway's view: a cluster node knows the clients connected to it.
 */
export class ClientIds {
  private readonly held = new Map<string, Holder>();
  /** Each credential's open authenticated connections. */
  private readonly conns = new Map<string, Set<Duplex>>();

  constructor(private readonly o: ClientIdLimits) {}

  /** Why `p` may not connect as `clientId` now (undefined: it may). */
  refusal(p: Principal, clientId: string, authenticated: number): IdRefusal | undefined {
    const key = keyOf(p);
    let holder = this.held.get(clientId);
    // A session left by a credential since removed (a plug moved to a new credential) holds nothing.
    if (holder && !holder.conn && holder.name !== ANONYMOUS && this.o.credentialExists?.(holder.name) === false) {
      this.held.delete(clientId);
      holder = undefined;
    }
    if (holder && holder.name !== key) {
      const how = holder.conn ? 'connected' : 'its persistent session, kept while its client is away';
      return { reason: 'client_id_taken', code: 2, why: `client id ${JSON.stringify(clientId)} is held by ${who(holder.name)} (${how}): another credential may not take it over` };
    }
    // Its own id again (a reconnect) replaces its connection: it adds none.
    if (holder?.conn) return undefined;
    const { maxConnections, maxPerCredential } = this.o;
    if (maxConnections > 0 && authenticated >= maxConnections) return { reason: 'max_connections', code: 3, why: `${authenticated} clients connected, the limit is ${maxConnections} (MAX_CONNECTIONS)` };
    const mine = this.conns.get(key)?.size ?? 0;
    if (maxPerCredential > 0 && limitedPerCredential(p) && mine >= maxPerCredential) {
      return { reason: 'credential_connections', code: 3, why: `${who(key)} has ${mine} clients connected, the limit is ${maxPerCredential} (MQTT_MAX_CONNECTIONS_PER_CREDENTIAL)` };
    }
    return undefined;
  }

  /** `p` authenticated as `clientId` on `conn` (checked by `refusal` in the same turn). */
  claim(p: Principal, clientId: string, conn: Duplex, persistent: boolean): void {
    const key = keyOf(p);
    const holder: Holder = { name: key, limited: limitedPerCredential(p), persistent, conn, registered: false };
    this.held.set(clientId, holder);
    let open = this.conns.get(key);
    if (!open) this.conns.set(key, (open = new Set()));
    const mine = open;
    mine.add(conn);
    conn.once('close', () => {
      mine.delete(conn);
      if (mine.size === 0 && this.conns.get(key) === mine) this.conns.delete(key);
      if (this.held.get(clientId) !== holder) return;
      holder.conn = undefined;
      // A persistent session stays its credential's while its client is away, until it ends (`ended`).
      if (!holder.persistent || !holder.registered) this.held.delete(clientId);
    });
  }

  observe(aedes: Aedes): void {
    aedes.on('client', (client: Client) => {
      const holder = this.held.get(client.id);
      if (holder && holder.conn === client.conn) holder.registered = true;
    });
  }

  /** A persistent session ended while its client was away (expired, evicted): its id is free. */
  ended(clientId: string): void {
    if (this.held.get(clientId)?.conn === undefined) this.held.delete(clientId);
  }

  /** Who holds a persistent session's id, for the snapshot (file-persistence.ts). */
  holderOf(clientId: string): HeldBy | undefined {
    const holder = this.held.get(clientId);
    return holder ? { name: holder.name, limited: holder.limited } : undefined;
  }

  /** A session restored from the snapshot is held again by the credential that left it. */
  restore(clientId: string, by: HeldBy): void {
    if (!this.held.has(clientId)) this.held.set(clientId, { ...by, persistent: true, conn: undefined, registered: true });
  }

  /** The credential holding `clientId` when it is held to the per-credential limits (for MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL). */
  limitedOwnerOf(clientId: string): string | undefined {
    const holder = this.held.get(clientId);
    return holder?.limited ? holder.name : undefined;
  }
}

/** Held to the per-credential limits (connections, sessions away, subscriptions): not an admin, not anonymous. */
export function limitedPerCredential(p: Principal): boolean {
  return !p.anonymous && p.role !== 'admin';
}
