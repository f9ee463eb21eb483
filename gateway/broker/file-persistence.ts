import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import type { Aedes, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { Settings } from '../config/settings.js';
import { logWarn } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { ClientIds } from './client-ids.js';
import { BoundedPersistence, connectedIds, type PersistenceHooks, type PersistenceLimits } from './persistence.js';
import type { RetainedLedger } from './retained.js';
import type { Stored } from './session-queue.js';
import { encode, readSnapshot, writeAtomically, type SessionRecord, type Snapshot } from './snapshot-file.js';
import { SnapshotSchedule, type Timers, type Written } from './snapshot-schedule.js';
import { UnkeptPersistence } from './unkept-persistence.js';

export interface SnapshotOptions {
  readonly file: string;
  /** Changes are written at most this often (ms); a large state, or one that takes long to gather, less often (snapshot-schedule.ts). */
  readonly intervalMs: number;
  /** The schedule's clock and timers (tests). */
  readonly timers?: Timers;
  /** The retained budgets: a restored message is booked again, and refused if it no longer fits. */
  readonly ledger: RetainedLedger;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Which credential holds each session's client id: kept, and given back at restore. */
  readonly ids?: Pick<ClientIds, 'holderOf' | 'restore'>;
}

/** How long a clean stop waits for the wills Aedes is still publishing (each waits for the spool). */
const WILLS_WAIT_MS = 2000;
/** Sessions whose subscriptions are asked of the store between two turns of the event loop. */
const SLICE = 5000;

/**
 * The single gateway's bounded persistence (persistence.ts), kept across restarts, as Mosquitto
 * keeps its own: retained messages, persistent sessions (subscriptions, queued messages, when
 * their client left) and wills are written to a snapshot (snapshot-file.ts) at most every
 * `intervalMs` after a change (or less often: snapshot-schedule.ts), and at a clean stop (`close`, after Aedes has closed: the wills of
 * the clients it cut off are published by then); the snapshot is read back in `setup`, which Aedes
 * runs before the broker listens. A kill -9 loses what changed since the last snapshot.
 *
 * The hot path only sets a flag: the snapshot is gathered on a timer, its payloads referenced, not
 * copied (they are never mutated), and written off the event loop. Unreleased incoming QoS 2 is
 * not kept: its message was published on PUBLISH already; after a restart its PUBREL is answered
 * as for an unknown id. A cluster node keeps all of this in Redis instead (cluster-persistence.ts).
 */
export class FilePersistence extends BoundedPersistence {
  /** What the memory store holds, mirrored (references) so that a snapshot reads it in one go. */
  private readonly retained = new Map<string, PublishPacket>();
  private readonly wills = new Map<string, PublishPacket>();
  /** Client ids that have stored subscriptions (some may have none left: skipped at the snapshot). */
  private readonly subscribed = new Set<string>();
  private readonly snapshots: SnapshotSchedule;
  private failing = false;
  private aedes: Aedes | undefined;

  constructor(
    limits: PersistenceLimits,
    hooks: PersistenceHooks,
    private readonly o: SnapshotOptions,
  ) {
    super(limits, hooks);
    this.snapshots = new SnapshotSchedule({ intervalMs: o.intervalMs, write: () => this.write(), ...(o.timers ? { timers: o.timers } : {}) });
  }

  /** What is waiting to be written (tests). */
  get pendingSnapshot(): SnapshotSchedule['state'] {
    return this.snapshots.state;
  }

  private clock(): number {
    return this.hooks.now?.() ?? Date.now();
  }

  override async setup(broker: Aedes): Promise<void> {
    await super.setup(broker);
    await this.load();
    // Set once loaded: a persistence never loaded writes nothing over the last snapshot at close.
    this.aedes = broker;
    // A persistent session's client coming or going changes when it left (its expiry).
    broker.on('client', (client: Client) => void (client.clean || this.changed()));
    broker.on('clientDisconnect', (client: Client) => void (client.clean || this.changed()));
  }

  // Every change only marks the state as changed: the snapshot is taken later, on a timer.
  override async storeRetained(packet: PublishPacket): Promise<void> {
    await super.storeRetained(packet);
    if (packet.payload.length === 0) this.retained.delete(packet.topic);
    else this.retained.set(packet.topic, { cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: true, dup: false });
    this.changed();
  }

  override async putWill(client: Client, packet: PublishPacket): Promise<void> {
    await super.putWill(client, packet);
    this.wills.set(client.id, packet);
    this.changed();
  }

  override async delWill(client: { id: string; brokerId?: string }): Promise<PublishPacket | undefined> {
    const will = await super.delWill(client);
    if (this.wills.delete(client.id)) this.changed();
    return will;
  }

  override async addSubscriptions(client: Client, subs: readonly Subscription[]): Promise<void> {
    await super.addSubscriptions(client, subs);
    if (client.clean) return;
    this.subscribed.add(client.id);
    this.changed();
  }

  override async removeSubscriptions(client: Client, subs: string[]): Promise<void> {
    await super.removeSubscriptions(client, subs);
    this.changed();
  }

  override async cleanSubscriptions(client: Client): Promise<void> {
    await super.cleanSubscriptions(client);
    if (this.subscribed.delete(client.id)) this.changed();
  }

  // A queue of a session away is a change; one of a connected session moves with every QoS 1/2
  // message it is sent and acknowledges: churn, written with the next change (snapshot-schedule.ts).
  override async outgoingEnqueue(sub: { clientId: string }, packet: Stored): Promise<void> {
    await super.outgoingEnqueue(sub, packet);
    this.clientQueueMoved(sub.clientId);
  }

  override async outgoingEnqueueCombi(subs: readonly { clientId: string }[], packet: Stored): Promise<void> {
    await super.outgoingEnqueueCombi(subs, packet);
    const connected = connectedIds(this.aedes);
    if (subs.every((s) => connected?.[s.clientId])) this.snapshots.churned();
    else this.changed();
  }

  override async outgoingUpdate(client: Client, packet: Stored): Promise<void> {
    await super.outgoingUpdate(client, packet);
    this.clientQueueMoved(client.id);
  }

  override async outgoingClearMessageId(client: Client, packet: Stored): Promise<Stored | undefined> {
    const found = await super.outgoingClearMessageId(client, packet);
    if (found) this.clientQueueMoved(client.id);
    return found;
  }

  /** One client's queue moved (per QoS 1/2 message): no array, object or callback made for it. */
  private clientQueueMoved(clientId: string): void {
    if (connectedIds(this.aedes)?.[clientId]) this.snapshots.churned();
    else this.changed();
  }

  // A session evicted or expired: its queue (not mirrored here) went too.
  protected override ended(): void {
    this.changed();
  }

  /** The last snapshot, once Aedes has closed (the broker's stop calls it); nothing is written after. */
  async close(): Promise<void> {
    this.snapshots.close();
    if (!this.aedes) return;
    // Aedes publishes the wills of the clients it cut off without waiting for them (lib/client.js
    // close): a retained one (`devices/<id>/status offline`) belongs in this snapshot. Each is
    // deleted once published (or refused); the ones restored from a gone broker are not waited for.
    const deadline = Date.now() + WILLS_WAIT_MS;
    while ([...this.wills.values()].some((w) => (w as { brokerId?: string }).brokerId === this.aedes?.id) && Date.now() < deadline) await sleep(10);
    await this.snapshots.flush();
  }

  private changed(): void {
    this.snapshots.changed();
  }

  private async write(): Promise<Written> {
    const { metrics, log, file } = this.o;
    try {
      const { snapshot, busyMs: gathering } = await this.gather();
      const { busyMs: encoding, bytes } = await writeAtomically(file, encode(snapshot));
      const busy = gathering + encoding;
      metrics.mqttSnapshotSeconds.set(busy / 1000);
      metrics.mqttSnapshotBytes.set(bytes);
      const queued = snapshot.sessions.reduce((n, s) => n + s.queued.length, 0);
      for (const [item, n] of [['sessions', snapshot.sessions.length], ['queued', queued], ['retained', snapshot.retained.length], ['wills', snapshot.wills.length]] as const) metrics.mqttSnapshotItems.set({ item }, n);
      if (this.failing) log.info({ file }, 'the broker’s snapshot is written again');
      this.failing = false;
      return { bytes, busyMs: busy };
    } catch (err) {
      metrics.mqttSnapshotFailures.inc();
      // Said once per run of failures (a full disk would say it every second).
      if (!this.failing) logWarn(log, 'GW_ERR_MQTT_SNAPSHOT', { file, err: (err as Error).message }, 'the broker’s snapshot cannot be written: the previous one stays, retrying');
      this.failing = true;
      return undefined;
    }
  }

  /**
   * The state as it is now: the subscriptions first (asked of the store a slice at a time, the
   * event loop free between slices), then everything else in one synchronous pass, so that a
   * session's queue and the retained messages are of one instant. `busyMs`: time on the event loop.
   */
  private async gather(): Promise<{ snapshot: Snapshot; busyMs: number }> {
    let busyMs = 0;
    let started = performance.now();
    const ids = [...new Set([...this.subscribed, ...this.outgoing.keys(), ...this.away.keys()])];
    const subs: Subscription[][] = [];
    for (let i = 0; i < ids.length; i += SLICE) {
      subs.push(...(await Promise.all(ids.slice(i, i + SLICE).map((id) => this.store.subscriptionsByClient({ id })))));
      busyMs += performance.now() - started;
      if (i + SLICE < ids.length) await setImmediate();
      started = performance.now();
    }
    const sessions: SessionRecord[] = [];
    ids.forEach((id, i) => {
      const queue = this.outgoing.get(id);
      const held = subs[i] ?? [];
      if (held.length === 0 && !queue) return void this.subscribed.delete(id);
      sessions.push({ id, since: this.away.get(id) ?? null, subs: held, queued: queue ? [...queue.entries.values()].map((e) => e.packet) : [], holder: this.o.ids?.holderOf(id) });
    });
    const retained = [...this.retained.values()].map((p) => ({ topic: p.topic, qos: p.qos, owner: this.o.ledger.ownerOf(p.topic) ?? '', payload: toBuffer(p.payload) }));
    const wills = [...this.wills].map(([id, p]) => ({ id, topic: p.topic, qos: p.qos, retain: p.retain, brokerId: (p as { brokerId?: string }).brokerId ?? '', payload: toBuffer(p.payload) }));
    busyMs += performance.now() - started;
    return { snapshot: { retained, sessions, wills }, busyMs };
  }

  /** Before the broker listens: the last snapshot, within today's limits. A damaged one is moved aside; the broker starts empty. */
  private async load(): Promise<void> {
    const { file, log, metrics, ledger } = this.o;
    const now = this.clock();
    const { snapshot, damaged } = await readSnapshot(file, now);
    if (damaged) {
      metrics.mqttSnapshotUnreadable.inc();
      logWarn(log, 'GW_ERR_MQTT_SNAPSHOT', { file, reason: damaged.reason, movedTo: damaged.movedTo }, 'the broker’s snapshot cannot be read: moved aside, the broker starts without retained messages and persistent sessions');
      return;
    }
    if (!snapshot) return;
    let refused = 0;
    for (const r of snapshot.retained) {
      // Booked again against today's budgets (MQTT_MAX_RETAINED_BYTES*): what no longer fits is not restored.
      // The gateway's own (`$gateway/…`, one per device, bounded where it is learnt) count against no client's budget.
      if (!(r.owner === '' && r.topic.startsWith('$gateway/')) && ledger.decide(r.owner, r.topic, r.payload.length, true) !== 'retain') refused++;
      else await this.storeRetained({ cmd: 'publish', topic: r.topic, payload: r.payload, qos: r.qos as 0 | 1 | 2, retain: true, dup: false });
    }
    // The most recently away kept within MQTT_MAX_AWAY_SESSIONS and _SUBSCRIPTIONS; each queue within today's bounds (enqueue drops the oldest).
    const since = (s: { since: number | null }): number => s.since ?? now;
    const sessions = [...snapshot.sessions].sort((a, b) => since(a) - since(b));
    const kept = newestWithin(sessions, this.limits.maxAwaySessions ?? 0, this.limits.maxAwaySubscriptions ?? 0);
    for (const s of kept) {
      if (s.subs.length > 0) await this.store.addSubscriptions({ id: s.id }, s.subs.map((x) => ({ topic: x.topic, qos: x.qos as 0 | 1 | 2 })));
      this.subscribed.add(s.id);
      if (s.holder) this.o.ids?.restore(s.id, s.holder);
      this.away.left(s.id, since(s), s.subs.length, s.holder?.limited ? s.holder.name : undefined);
      for (const p of s.queued) await this.outgoingEnqueue({ clientId: s.id }, p);
    }
    for (const w of snapshot.wills) {
      const packet = { cmd: 'publish', topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain, dup: false } as PublishPacket;
      await this.store.putWill({ id: w.id }, packet);
      // The store stamps this broker; the will is the gone one's, so Aedes' check for dead brokers publishes it unless its client comes back.
      (packet as { brokerId?: string }).brokerId = w.brokerId;
      this.wills.set(w.id, packet);
    }
    const queued = kept.reduce((n, s) => n + s.queued.length, 0);
    log.info({ file, retained: snapshot.retained.length - refused, retainedRefused: refused, sessions: kept.length, sessionsOverLimit: sessions.length - kept.length, queued, wills: snapshot.wills.length }, 'broker state restored from its snapshot');
    if (this.limits.sessionExpiryMs > 0) await this.expire();
  }
}

function toBuffer(payload: Buffer | string | undefined): Buffer {
  return payload === undefined ? Buffer.alloc(0) : typeof payload === 'string' ? Buffer.from(payload) : payload;
}

/** A single gateway's persistence: kept in DATA_DIR across restarts unless MQTT_SNAPSHOT_INTERVAL_MS is 0. */
export function singleNodePersistence(settings: Settings, limits: PersistenceLimits, hooks: PersistenceHooks, o: Omit<SnapshotOptions, 'file' | 'intervalMs'>): BoundedPersistence {
  const file = join(resolve(settings.dataDir), 'mqtt-state.bin');
  if (settings.mqttSnapshotIntervalMs <= 0) return new UnkeptPersistence(limits, hooks, { file, log: o.log, now: Date.now });
  return new FilePersistence(limits, hooks, { ...o, file, intervalMs: settings.mqttSnapshotIntervalMs });
}

/** The newest sessions (the list is oldest first) within a count and a total of filters (0 = no limit). */
function newestWithin<S extends { subs: readonly unknown[] }>(sessions: readonly S[], maxSessions: number, maxFilters: number): S[] {
  let first = maxSessions > 0 ? Math.max(0, sessions.length - maxSessions) : 0;
  let filters = 0;
  for (let i = sessions.length - 1; i >= first; i--) {
    filters += sessions[i]!.subs.length;
    if (maxFilters > 0 && filters > maxFilters) first = i + 1;
  }
  return sessions.slice(first);
}
