import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { BoundedMap } from '../core/bounded-map.js';
import type { Clock } from '../core/clock.js';
import { logError, logWarn } from '../core/errors.js';
import { ReplayClock } from '../core/replay-clock.js';
import type { Outcome } from '../rules/actions.js';
import { dryRun, lookbackMs, type DryRunItem } from '../rules/dry-run.js';
import type { RuleSet } from '../rules/loader.js';
import { RulesRuntime, type RuntimeObserver } from '../rules/runtime.js';
import { decodeSnapshot, encodeChange, type StateChange } from '../rules/shared-state.js';
import { parsePoint } from '../storage/point-parse.js';
import type { Lease } from './leases.js';
import { KEYS, type ScriptName } from './redis-keys.js';

/** A stream entry as XREAD / XRANGE return it. */
export type StreamEntry = [id: string, fields: string[]];

export interface PartitionWorkerOptions {
  readonly lease: Lease;
  readonly redis: Redis;
  readonly script: (name: ScriptName, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;
  readonly rules: RuleSet;
  readonly clock: Clock;
  readonly log: Logger;
  readonly staleAfterMs: number;
  /** Publishes, stores and announces a committed command or alert. */
  readonly emit: (outcome: Outcome) => Promise<void>;
  readonly observer?: RuntimeObserver;
  /** Redis refused a write with this lease's token: a newer owner exists. */
  readonly fenced: () => void;
}

const idMs = (id: string): number => Number(id.slice(0, id.indexOf('-')));
/** How often the cursor is written while entries are ruled and nothing else is committed. */
const CURSOR_EVERY_MS = 250;

/**
 * The owner's rules for one partition: a rules runtime of its own, fed the partition's stream in
 * order. Taking over, it replays the recent stream through the runtime as a dry run (windows,
 * held-for and absence timers come out as the last owner had them), adopts the shared state
 * (what was commanded, armed, alerted), publishes what the last owner committed but may not have
 * published (the outbox), and goes live from the last owner's cursor.
 *
 * Every write goes through the fenced `commit` script: the cursor (last entry ruled), the
 * timers' watermark (every timer due up to it has fired), the state changes and the outbox, in
 * one step. A command or alert is published only after its commit: a stale owner's is refused
 * by Redis and never goes out; one committed by an owner that died before publishing it is
 * published by the next.
 */
export class PartitionWorker {
  readonly partition: number;
  readonly runtime: RulesRuntime;
  private readonly clock: ReplayClock;
  /** The last entry handed to the rules. */
  private lastId = '0-0';
  private committedId = '0-0';
  private lastCursorCommit = 0;
  private pending: Outcome[] = [];
  private changes: StateChange[] = [];
  /** Event ids ruled lately (a batch forwarded again after a crash comes within seconds). */
  private readonly ruled = new BoundedMap<string, true>(20_000);
  private dry = true;
  private inBatch = false;
  private stopped = false;
  private commits: Promise<unknown> = Promise.resolve();
  private timerCommit = false;
  /** Entries ruled, duplicates dropped, readings taken as history (counts for metrics). */
  readonly counts = { ruled: 0, duplicates: 0, history: 0, replayed: 0 };
  /** Epoch ms of the newest entry ruled (lag = the stream's newest minus this). */
  ruledUpToMs = 0;

  constructor(private readonly o: PartitionWorkerOptions) {
    this.partition = o.lease.partition;
    this.clock = new ReplayClock(o.clock);
    this.runtime = new RulesRuntime({
      clock: this.clock,
      log: o.log,
      onOutcome: (outcome) => this.outcome(outcome),
      observer: {
        ...o.observer,
        fired: (rule) => !this.dry && o.observer?.fired?.(rule),
        suppressed: (s) => !this.dry && o.observer?.suppressed?.(s),
        woke: (type) => !this.dry && o.observer?.woke?.(type),
      },
    });
    this.runtime.use(o.rules);
  }

  /** The entry to read on from. */
  get cursor(): string {
    return this.lastId;
  }

  get live(): boolean {
    return !this.dry && !this.stopped;
  }

  useRules(set: RuleSet): void {
    this.runtime.use(set);
  }

  /** Rebuilds from the shared state and the recent stream, publishes the outbox, and goes live. */
  async start(): Promise<{ replayed: number; timers: number; tookMs: number; cursor: string }> {
    const started = performance.now();
    const { redis, lease } = this.o;
    const p = this.partition;
    const [hash, outbox] = await Promise.all([redis.hgetall(KEYS.state(p)), redis.hgetall(KEYS.outbox(p))]);
    const snapshot = decodeSnapshot(hash);
    const cursor = hash['cursor'] ?? '0-0';
    const watermark = Number(hash['clock'] ?? 0);
    const cursorMs = idMs(cursor);
    const fromMs = Math.max(0, cursorMs - lookbackMs(this.o.rules));
    const untilMs = Math.max(fromMs, watermark || cursorMs);
    const result = await dryRun({
      runtime: this.runtime,
      clock: this.clock,
      fromMs,
      untilMs,
      batches: cursor === '0-0' ? [] : this.history(`${fromMs}-0`, cursor),
      beforeLive: () => {
        this.runtime.dispatcher.adopt(snapshot.actuators, snapshot.alertsSent);
        for (const [zone, armed] of snapshot.armed) {
          const [site = '', z = ''] = zone.split('/');
          void this.runtime.state.setArmed(site, z, armed);
        }
      },
    });
    this.lastId = cursor;
    this.committedId = cursor;
    this.ruledUpToMs = cursorMs;
    this.dry = false;
    this.pending = [];
    this.changes = [];
    if (lease.validUntil <= Date.now() || this.stopped) return { replayed: result.items, timers: result.timers, tookMs: Math.round(performance.now() - started), cursor };
    // What the last owner committed and may not have published.
    for (const [id, json] of Object.entries(outbox)) {
      try {
        await this.o.emit(JSON.parse(json) as Outcome);
      } catch (err) {
        this.o.log.error({ err, eventId: id }, 'could not publish a command or alert from the outbox');
      }
    }
    if (Object.keys(outbox).length > 0) await redis.hdel(KEYS.outbox(p), ...Object.keys(outbox)).catch(() => undefined);
    // Timers that fell due while nobody ruled the partition fire now (they are past the watermark).
    return { replayed: result.items, timers: result.timers, tookMs: Math.round(performance.now() - started), cursor };
  }

  /** The stream from `from` to `to` (inclusive), a page at a time, as dry-run items. */
  private async *history(from: string, to: string): AsyncIterable<readonly DryRunItem[]> {
    let start = from;
    for (;;) {
      const page = (await this.o.redis.xrange(KEYS.stream(this.partition), start, to, 'COUNT', 1000)) as StreamEntry[];
      if (page.length === 0) return;
      yield page.map(([id, fields]) => ({
        atMs: idMs(id),
        apply: () => {
          this.counts.replayed++;
          this.apply(id, fields);
        },
      }));
      const last = page.at(-1)![0];
      if (last === to || page.length < 1000) return;
      start = `(${last}`;
    }
  }

  /** Live entries, in stream order; resolves once they are ruled and what they caused is committed. */
  async process(entries: readonly StreamEntry[]): Promise<void> {
    if (this.dry || this.stopped) return;
    this.inBatch = true;
    try {
      for (const [id, fields] of entries) {
        if (this.stopped) return;
        if (this.o.lease.validUntil <= Date.now()) return; // the lease manager lets the partition go
        this.apply(id, fields);
        await this.runtime.idle();
        this.lastId = id;
        this.ruledUpToMs = idMs(id);
        if (this.pending.length > 0 || this.changes.length > 0) await this.commit(true);
      }
      if (this.lastId !== this.committedId && Date.now() - this.lastCursorCommit >= CURSOR_EVERY_MS) await this.commit(true);
    } finally {
      this.inBatch = false;
    }
  }

  /** Writes the cursor if entries were ruled since it was last written (the stream went quiet). */
  async flushCursor(): Promise<void> {
    if (this.dry || this.stopped || this.inBatch || this.lastId === this.committedId) return;
    await this.commit(true);
  }

  /** One entry through the rules: a duplicate id is dropped, history is recorded nowhere, an armed zone is applied. */
  private apply(_id: string, fields: string[]): void {
    let line: string | undefined;
    let at = 0;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const key = fields[i];
      if (key === 'l') line = fields[i + 1];
      else if (key === 'a') at = Number(fields[i + 1]);
    }
    if (line === undefined) return;
    const parsed = parsePoint(line, at);
    if (!parsed) return;
    if (parsed.type === 'zoneArmed') {
      const { site, zone, armed } = parsed.event;
      this.runtime.setArmed(site, zone, armed);
      if (!this.dry) this.changes.push({ type: 'armed', zone: `${site}/${zone}`, armed });
      return;
    }
    const r = parsed.event;
    const key = `${r.source}|${r.kind}|${r.id}`;
    if (this.ruled.has(key)) {
      if (!this.dry) this.counts.duplicates++;
      return;
    }
    this.ruled.set(key, true);
    const latest = this.runtime.state.deviceLatest(r.source, r.kind);
    if ((latest !== undefined && r.timeMs < latest.timeMs) || r.timeMs < at - this.o.staleAfterMs) {
      if (!this.dry) this.counts.history++;
      return;
    }
    if (!this.dry) this.counts.ruled++;
    this.runtime.onReading(r);
  }

  private outcome(outcome: Outcome): void {
    if (this.dry || this.stopped) return;
    this.pending.push(outcome);
    this.changes.push(
      outcome.kind === 'command'
        ? { type: 'actuator', target: `${outcome.site}/${outcome.zone}/${outcome.actuator}`, actuator: { data: outcome.cloudEvent.data, changedAt: outcome.timeMs } }
        : { type: 'alertSent', target: `${outcome.rule}/${outcome.site}/${outcome.cloudEvent.data.zone}`, at: outcome.timeMs },
    );
    // A timer's outcome, outside any batch: commit it (with whatever else its wake-up caused) by itself.
    if (!this.inBatch && !this.timerCommit) {
      this.timerCommit = true;
      setImmediate(() => {
        this.timerCommit = false;
        void this.commit(false);
      });
    }
  }

  /**
   * The fenced write, one at a time: state changes, the outbox, the timers' watermark and (with
   * `withCursor`) the cursor; then what it held is published. False when it could not be written.
   */
  private commit(withCursor: boolean): Promise<boolean> {
    const run = this.commits.then(async () => {
      await this.runtime.idle();
      const outcomes = this.pending.splice(0);
      const changes = this.changes.splice(0);
      const cursor = this.lastId;
      if (!withCursor && outcomes.length === 0 && changes.length === 0) return true;
      const now = this.o.clock.now();
      // Every timer due up to here has fired: the earliest one still pending has not.
      const next = this.runtime.wakeups.earliestDeadline();
      const watermark = next === undefined ? now : Math.min(now, next - 1);
      const fields: string[] = [];
      for (const c of changes) fields.push(...encodeChange(c));
      fields.push('clock', String(watermark));
      if (withCursor) fields.push('cursor', cursor);
      const outbox: string[] = [];
      for (const o of outcomes) outbox.push(o.id, JSON.stringify(o));
      const trim = withCursor ? `${Math.max(0, idMs(cursor) - Math.max(lookbackMs(this.o.rules), this.o.staleAfterMs) - 60_000)}-0` : '';
      const p = this.partition;
      const args = [this.o.lease.token, fields.length / 2, ...fields, outcomes.length, ...outbox, trim];
      for (let attempt = 0; ; attempt++) {
        if (this.stopped && attempt > 0) return false;
        if (this.o.lease.validUntil <= Date.now()) {
          if (outcomes.length > 0) logWarn(this.o.log, 'GW_ERR_REDIS_UNREACHABLE', { partition: p, dropped: outcomes.length }, 'the lease ran out before the rules\' outcomes were committed: not published; the next owner rules those readings again');
          return false;
        }
        try {
          const ok = (await this.o.script('commit', [KEYS.fence(p), KEYS.state(p), KEYS.outbox(p), KEYS.stream(p)], args)) as number;
          if (ok !== 1) {
            logError(this.o.log, 'GW_ERR_FENCED', { partition: p, fence: this.o.lease.token, dropped: outcomes.length }, 'Redis refused a write with an old fencing token: another node owns this partition now; letting it go');
            this.stopped = true;
            this.o.fenced();
            return false;
          }
          break;
        } catch (err) {
          if (attempt === 0) this.o.log.warn({ err: (err as Error).message, partition: p }, 'could not commit the rules\' state; retrying while the lease lasts');
          await sleep(backoffDelay(attempt, 50, 500));
        }
      }
      if (withCursor) {
        this.committedId = cursor;
        this.lastCursorCommit = Date.now();
      }
      if (outcomes.length > 0) {
        const sent = outcomes.map((o) => this.o.emit(o).then(() => o.id));
        void Promise.allSettled(sent).then((r) => {
          const done = r.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
          if (done.length > 0) return this.o.redis.hdel(KEYS.outbox(p), ...done).catch(() => undefined);
          return undefined;
        });
      }
      return true;
    });
    this.commits = run.catch(() => undefined);
    return run;
  }

  /** Stops ruling: what is ruled is committed (while the lease lasts), timers are dropped. */
  async stop(): Promise<void> {
    if (!this.stopped && !this.dry && this.lastId !== this.committedId) await this.commit(true).catch(() => false);
    this.stopped = true;
    await this.commits;
    await this.runtime.stop();
  }
}
