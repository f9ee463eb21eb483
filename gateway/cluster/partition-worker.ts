import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { RuleBounds } from '../rules/bounds.js';
import { ReplayClock } from '../core/replay-clock.js';
import { dryRun, lookbackMs, mergeItems, type DryRunItem } from '../rules/dry-run.js';
import type { RuleSet } from '../rules/loader.js';
import { outputKey, type RuleOutput } from '../rules/outputs.js';
import { warnAlarmsWithoutRule } from '../rules/rebuild.js';
import type { CommandSettings, RulesRuntime, RuntimeObserver } from '../rules/runtime.js';
import { actuatorChanges, actuatorRestores, adoptSnapshot, decodeSnapshot, restoreAlarms, wholeState, type StateChange } from '../rules/shared-state.js';
import { effectsOf, fencedCommit, sendOutbox, streamPages, type Script, type StreamEntry } from './fenced-commit.js';
import { seedFromHistory, type HistorySeed } from './history-seed.js';
import type { Lease } from './leases.js';
import { KEYS } from './redis-keys.js';
import { StreamEntries } from './stream-entries.js';
import { workerRuntime } from './worker-runtime.js';

export type { StreamEntry } from './fenced-commit.js';

export interface PartitionWorkerOptions {
  readonly lease: Lease;
  readonly redis: Redis;
  readonly script: Script;
  readonly rules: RuleSet;
  readonly commands: CommandSettings;
  readonly clock: Clock;
  readonly log: Logger;
  readonly staleAfterMs: number;
  /** Sends a committed output on (stores, announces, publishes: rules/outputs.ts); resolves once published. */
  readonly send: (out: RuleOutput) => Promise<void>;
  readonly observer?: RuntimeObserver;
  /** What the rules remember at most (rules/bounds.ts; tests lower them). */
  readonly bounds?: Partial<RuleBounds>;
  /** Redis refused a write with this lease's token: a newer owner exists. */
  readonly fenced: () => void;
  /** Where a partition whose shared state Redis lost is rebuilt from (history-seed.ts). */
  readonly seed?: HistorySeed;
}

const idMs = (id: string): number => Number(id.slice(0, id.indexOf('-')));
/** How often the cursor is written while entries are ruled and nothing else is committed. */
const CURSOR_EVERY_MS = 250;

/**
 * The owner's rules for one partition: a rules runtime of its own (alarms and command sagas
 * included), fed the partition's stream in order (stream-entries.ts). Taking over, it restores the shared state's
 * active alarms, replays the recent stream as a dry run (rules/dry-run.ts, as the rebuild at
 * start), adopts the rest of the shared state (commanded, reported, waited for, armed, and the
 * alarms' counts and times: the replayed readings are counted in them already), goes live
 * (what ran out meanwhile acts now), sends the last owner's outbox, and rules on from its cursor.
 * Every write is one fenced `commit` (fenced-commit.ts: cursor, timers' watermark, state changes,
 * outbox); every output is sent only after its commit: a stale owner's is refused by Redis and
 * never goes out; one committed by an owner that died before sending it is sent by the next.
 */
export class PartitionWorker {
  readonly partition: number;
  runtime!: RulesRuntime;
  private clock!: ReplayClock;
  private rules: RuleSet;
  /** The last entry handed to the rules. */
  private lastId = '0-0';
  private committedId = '0-0';
  private lastCursorCommit = 0;
  /** Outputs to send after the next commit; `durable` of them go to the outbox. */
  private pending: RuleOutput[] = [];
  private durable = 0;
  private changes: StateChange[] = [];
  /** How many of `changes` need no commit of their own (alarm updates not worth a stored point). */
  private lazy = 0;
  /** Actuators whose command, saga or report changed since the last commit. */
  private readonly touched = new Set<string>();
  /** The stream's entries into the rules (duplicates dropped, history judged). */
  private entries!: StreamEntries;
  private starting = true;
  /** Rebuilding from the history (history-seed.ts): what a failed try's runtime does is dropped with it, never committed. */
  private seeding = false;
  private inBatch = false;
  private stopped = false;
  private commits: Promise<unknown> = Promise.resolve();
  private timerCommit = false;
  /** Epoch ms of the newest entry ruled (lag = the stream's newest minus this). */
  ruledUpToMs = 0;

  constructor(private readonly o: PartitionWorkerOptions) {
    this.partition = o.lease.partition;
    this.rules = o.rules;
    this.fresh();
  }

  /** A rules runtime of its own, on its own clock (a new one for each try of a history rebuild). */
  private fresh(): void {
    const o = this.o;
    this.clock = new ReplayClock(o.clock);
    this.runtime = workerRuntime(o, this.clock, (out) => this.output(out));
    const live = (): boolean => !this.runtime.dry;
    this.runtime.use(this.rules);
    // A zone's armed state as the rules took it, within their bound (one forgotten: its field deleted); a replay's are the shared state's already.
    this.runtime.state.onChange = (zone, armed) => void (live() && this.changes.push({ type: 'armed', zone, armed }));
    this.entries = new StreamEntries({ runtime: this.runtime, log: o.log, partition: this.partition, staleAfterMs: o.staleAfterMs, touched: (a) => this.touched.add(a) });
  }

  /** Entries ruled, duplicates dropped, readings taken as history, entries replayed, lines unreadable (counts for metrics). */
  get counts(): StreamEntries['counts'] {
    return this.entries.counts;
  }

  /** The entry to read on from. */
  get cursor(): string {
    return this.lastId;
  }

  get live(): boolean {
    return !this.starting && !this.stopped;
  }

  useRules(set: RuleSet): void {
    this.rules = set;
    this.runtime.use(set);
  }

  /** Rebuilds from the shared state and the recent stream, goes live, and sends the outbox. */
  async start(): Promise<{ replayed: number; timers: number; alarms: number; sagas: number; tookMs: number; cursor: string; fromHistory?: true }> {
    const started = performance.now();
    const { redis, lease } = this.o;
    const p = this.partition;
    const [hash, outbox, lost] = await Promise.all([redis.hgetall(KEYS.state(p)), redis.hgetall(KEYS.outbox(p)), redis.exists(KEYS.dataLost)]);
    // Nothing committed yet in an epoch that began with Redis' data lost: the state is InfluxDB's.
    if (this.o.seed && lost === 1 && Object.keys(hash).length === 0) return this.seed(this.o.seed, started);
    const snapshot = decodeSnapshot(hash);
    const cursor = hash['cursor'] ?? '0-0';
    const watermark = Number(hash['clock'] ?? 0);
    const cursorMs = idMs(cursor);
    const fromMs = Math.max(0, cursorMs - lookbackMs(this.o.rules, this.o.commands));
    const untilMs = Math.max(fromMs, watermark || cursorMs);
    const runtime = this.runtime;
    const history = (): AsyncIterable<readonly DryRunItem[]> => this.history(`${fromMs}-0`, cursor);
    // The actuators come back at the times they were commanded, so what their minimum on/off
    // times held back is held back again, and sent when they run out (not lost with the old owner).
    const actuators = actuatorRestores(runtime, snapshot, fromMs);
    async function* items(): AsyncIterable<readonly DryRunItem[]> {
      yield [{ atMs: fromMs, apply: () => restoreAlarms(runtime, snapshot) }];
      if (cursor !== '0-0') yield* mergeItems(history(), actuators);
      else yield actuators;
    }
    // The cursor is where the last owner stopped: set before going live, which may commit.
    this.lastId = cursor;
    this.committedId = cursor;
    this.ruledUpToMs = cursorMs;
    const result = await dryRun({ runtime, clock: this.clock, fromMs, untilMs, batches: items(), beforeLive: () => adoptSnapshot(runtime, snapshot) });
    warnAlarmsWithoutRule(runtime, this.o.log);
    this.starting = false;
    const done = { replayed: result.items - 1 - actuators.length, timers: result.timers, alarms: runtime.alarms.size, sagas: runtime.commands.pending, tookMs: Math.round(performance.now() - started), cursor };
    if (lease.validUntil <= Date.now() || this.stopped) return done;
    await sendOutbox({ redis, partition: p, outbox, send: this.o.send, log: this.o.log });
    return done;
  }

  /** Rebuilt from the history, committed whole as the shared state; then the stream (what came since the loss, waiting meanwhile) is ruled from its start.
   *  A try that could not read the history is dropped, runtime and all, and tried again (history-seed.ts): never committed as the truth. */
  private async seed(seed: HistorySeed, started: number): ReturnType<PartitionWorker['start']> {
    this.seeding = true;
    const r = await seedFromHistory(seed, {
      redis: this.o.redis, partition: this.partition, now: () => this.o.clock.now(), log: this.o.log, commandTimes: this.o.commands,
      runtime: () => ({ runtime: this.runtime, clock: this.clock }),
      // What the failed try left (its runtime, and any output it made going live) goes; the next starts afresh.
      failed: async () => void (await this.runtime.stop(), (this.pending = []), (this.changes = []), this.touched.clear(), (this.durable = this.lazy = 0), this.fresh()),
      gone: () => this.stopped || this.o.lease.validUntil <= Date.now(),
    });
    this.seeding = false;
    this.starting = false;
    const { changes, actuators } = wholeState(this.runtime, this.o.clock.now());
    this.changes.push(...changes);
    for (const a of actuators) this.touched.add(a);
    if (this.o.lease.validUntil > Date.now() && !this.stopped) await this.commit(true);
    return { replayed: r.replayed, timers: r.timers, alarms: r.alarms, sagas: r.sagas, tookMs: Math.round(performance.now() - started), cursor: this.lastId, fromHistory: true };
  }

  /** The stream from `from` to `to` (inclusive), a page at a time, as dry-run items. */
  private async *history(from: string, to: string): AsyncIterable<readonly DryRunItem[]> {
    for await (const page of streamPages(this.o.redis, this.partition, from, to)) {
      yield page.map(([id, fields]) => ({ atMs: idMs(id), apply: () => void (this.counts.replayed++, this.entries.apply(fields)) }));
    }
  }

  /** Live entries, in stream order; resolves once they are ruled and what they caused is committed. */
  async process(entries: readonly StreamEntry[]): Promise<void> {
    if (this.starting || this.stopped) return;
    this.inBatch = true;
    try {
      for (const [id, fields] of entries) {
        if (this.stopped) return;
        if (this.o.lease.validUntil <= Date.now()) return; // the lease manager lets the partition go
        this.entries.apply(fields);
        await this.runtime.idle();
        this.lastId = id;
        this.ruledUpToMs = idMs(id);
        if (this.durable > 0 || this.changes.length > this.lazy || this.touched.size > 0) await this.commit(true);
      }
      if (this.lastId !== this.committedId && Date.now() - this.lastCursorCommit >= CURSOR_EVERY_MS) await this.commit(true);
    } finally {
      this.inBatch = false;
    }
  }

  /** Writes the cursor if entries were ruled since it was last written (the stream went quiet). */
  async flushCursor(): Promise<void> {
    if (this.starting || this.stopped || this.inBatch || (this.lastId === this.committedId && this.pending.length === 0)) return;
    await this.commit(true);
  }

  /** An output of the runtime: committed (with what it changed) before it is sent. */
  private output(out: RuleOutput): void {
    if (this.runtime.dry || this.stopped) return;
    this.pending.push(out);
    const { durable, change, actuator } = effectsOf(out);
    if (change) this.changes.push(change);
    if (actuator) this.touched.add(actuator);
    // An update not worth a stored point is not worth a commit: it rides along with the next one
    // (a cursor's, at most CURSOR_EVERY_MS later, or flushCursor's), which it must: a takeover takes
    // the shared state's alarms as they stood at the cursor.
    if (!durable) {
      if (change) this.lazy++;
      return;
    }
    this.durable++;
    // A timer's output, outside any batch: commit it (with whatever else its wake-up caused) by itself.
    if (!this.inBatch && !this.timerCommit && !this.seeding) {
      this.timerCommit = true;
      setImmediate(() => {
        this.timerCommit = false;
        void this.commit(false);
      });
    }
  }

  /**
   * The fenced write, one at a time: state changes, the outbox, the timers' watermark and (with
   * `withCursor`, or when entries were ruled since it was written) the cursor; then what it held is sent. False when it could not be written.
   */
  private commit(withCursor: boolean): Promise<boolean> {
    const run = this.commits.then(async () => {
      await this.runtime.idle();
      // A wake-up's commit takes what entries ruled since the cursor was written too, so it writes
      // the cursor with them (a node dying next must not rule them again); during a batch the
      // entry being ruled has no cursor yet: the batch commits it all, with it.
      if (!withCursor && this.inBatch) return true;
      const writeCursor = withCursor || this.lastId !== this.committedId;
      const outputs = this.pending.splice(0);
      this.durable = 0;
      const changes = [...this.changes.splice(0), ...actuatorChanges(this.runtime, this.touched)];
      this.lazy = 0;
      this.touched.clear();
      const cursor = this.lastId;
      if (!writeCursor && outputs.length === 0 && changes.length === 0) return true;
      const now = this.o.clock.now();
      // Every timer due up to here has fired: the earliest one still pending has not.
      const next = this.runtime.wakeups.earliestDeadline();
      const watermark = next === undefined ? now : Math.min(now, next - 1);
      const durable = outputs.filter((o) => effectsOf(o).durable);
      const keep = Math.max(lookbackMs(this.runtime.rules, this.o.commands), this.o.staleAfterMs);
      const trimBefore = writeCursor ? `${Math.max(0, idMs(cursor) - keep - 60_000)}-0` : '';
      const result = await fencedCommit(
        { script: this.o.script, lease: this.o.lease, log: this.o.log, stopped: () => this.stopped },
        { changes, durable, watermark, cursor: writeCursor ? cursor : undefined, trimBefore },
      );
      if (result === 'fenced') {
        this.stopped = true;
        this.o.fenced();
      }
      if (result !== 'ok') return false;
      if (writeCursor) {
        this.committedId = cursor;
        this.lastCursorCommit = Date.now();
      }
      if (outputs.length > 0) {
        // Sent in order (stored and announced at once; publishes run on), then taken out of the outbox.
        const sent = outputs.map((o) => this.o.send(o).then(() => outputKey(o)));
        const p = this.partition;
        void Promise.allSettled(sent).then((r) => {
          const done = r.flatMap((x, i) => (x.status === 'fulfilled' && durable.includes(outputs[i]!) ? [x.value] : []));
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
    if (!this.stopped && !this.starting && (this.lastId !== this.committedId || this.pending.length > 0)) await this.commit(true).catch(() => false);
    this.stopped = true;
    await this.commits;
    await this.runtime.stop();
  }
}
