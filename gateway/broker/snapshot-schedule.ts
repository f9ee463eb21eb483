/**
 * When the broker's snapshot (file-persistence.ts) is written. The whole state is written each
 * time (up to the retained budget plus every queue, two fsyncs), so how often is bounded three ways:
 *
 * - at most every `intervalMs` (MQTT_SNAPSHOT_INTERVAL_MS) after a change;
 * - at most `MAX_LOOP_SHARE` of the event loop: one that took 50 ms to gather waits 500 ms;
 * - at most `MAX_WRITE_BYTES_PER_S` on average: the next write waits as long as the last one's
 *   bytes take at that rate (a 16 MiB snapshot: 64 s), so the disk (often flash) is not rewritten
 *   whole every second under QoS 1 traffic (1.4 TB a day at 16 MiB).
 *
 * A change that is only a connected session's queue moving (a message queued and acknowledged in
 * the same second: in flight, not away) is "churn": it is written with the next change, or
 * after `CHURN_MS` at the soonest. It never holds a write back.
 */

/** Average bytes a second the snapshots may write (README, MQTT_SNAPSHOT_INTERVAL_MS). */
export const MAX_WRITE_BYTES_PER_S = 256 * 1024;
/** Connected sessions' in-flight churn alone is written at most this often. */
export const CHURN_MS = 60_000;
const MAX_LOOP_SHARE = 0.1;

export interface Timers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What a write did; undefined: it failed (the caller said so), retried after the same gap. */
export type Written = { readonly bytes: number; readonly busyMs: number } | undefined;

type Pending = 'none' | 'churn' | 'change';
const rank: Record<Pending, number> = { none: 0, churn: 1, change: 2 };

export class SnapshotSchedule {
  private pending: Pending = 'none';
  private timer: unknown;
  private timerFor: Pending = 'none';
  private writing: Promise<void> | undefined;
  private lastStart: number | undefined;
  private gapMs: number;
  private closed = false;
  private readonly timers: Timers;

  constructor(private readonly o: { readonly intervalMs: number; readonly write: () => Promise<Written>; readonly timers?: Timers }) {
    this.gapMs = o.intervalMs;
    this.timers = o.timers ?? realTimers;
  }

  /** What is waiting to be written. */
  get state(): Pending {
    return this.pending;
  }

  /** Something a restart must find (a retained message, a subscription, a message for a session away, …). */
  changed(): void {
    if (this.pending === 'change') return;
    this.pending = 'change';
    // A churn timer may be far off: a change is due sooner.
    if (this.timerFor === 'churn') this.cancel();
    this.schedule();
  }

  /** Only a connected session's in-flight queue moved. */
  churned(): void {
    if (this.pending !== 'none') return;
    this.pending = 'churn';
    this.schedule();
  }

  /** No timer from now on; `flush` still writes. */
  close(): void {
    this.closed = true;
    this.cancel();
  }

  /** The write under way, then one more of the state as it is now. */
  async flush(): Promise<void> {
    await this.writing;
    await this.save();
  }

  private cancel(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.timerFor = 'none';
  }

  private schedule(): void {
    if (this.timer !== undefined || this.writing || this.closed || this.pending === 'none') return;
    const now = this.timers.now();
    const wait = this.pending === 'change' ? this.gapMs : Math.max(this.gapMs, CHURN_MS);
    this.timerFor = this.pending;
    this.timer = this.timers.set(
      () => {
        this.timer = undefined;
        this.timerFor = 'none';
        void this.save();
      },
      this.lastStart === undefined ? 0 : Math.max(0, this.lastStart + wait - now),
    );
  }

  /** One write at a time; what changes while it runs schedules the next. */
  private save(): Promise<void> {
    this.writing ??= this.run().finally(() => {
      this.writing = undefined;
      this.schedule();
    });
    return this.writing;
  }

  private async run(): Promise<void> {
    const was = this.pending;
    this.pending = 'none';
    this.lastStart = this.timers.now();
    const written = await this.o.write();
    if (!written) {
      if (rank[was] > rank[this.pending]) this.pending = was;
      return;
    }
    this.gapMs = Math.max(this.o.intervalMs, written.busyMs / MAX_LOOP_SHARE, (written.bytes / MAX_WRITE_BYTES_PER_S) * 1000);
  }
}
