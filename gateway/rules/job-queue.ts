import Denque from 'denque';
import type { ReadingEvent } from '../core/events.js';

/** A job of the rules' queue: a function to run (a run, a timer, arming a zone), or a reading to judge in its turn. */
export type Job = (() => Promise<void> | void) | ReadingEvent;

/** Longest the queue runs before it lets the event loop take a turn (socket reads, PUBACKs, HTTP, timers). */
const SLICE_MS = 10;
/** Synchronous judgements between looks at the clock: a reading that can fire nothing costs no clock read. */
const CHECK_EVERY = 64;

/**
 * The rules' work, in arrival order, one at a time. A reading behind a run waits as itself (no
 * closure, no promise per reading) and is handed to `judge` in its turn, so it sees the state of
 * its time; `judge` hands back a promise only when the reading goes to the engine. One drain
 * runs until the queue is empty, started after the current synchronous work (as a promise chain
 * would be), but never for more than SLICE_MS without letting the event loop take a turn: engine
 * runs are promise chains, and a large pack's queue drained on microtasks alone held socket reads,
 * acknowledgements and /healthz for seconds while the backlog it never saw grow was never shed. A
 * job that fails is logged and the next runs.
 */
export class JobQueue {
  private readonly jobs = new Denque<Job>();
  private draining = false;
  private idlers: (() => void)[] = [];
  private count = 0;

  constructor(
    private readonly judge: (r: ReadingEvent) => Promise<void> | undefined,
    private readonly failed: (err: unknown) => void,
  ) {}

  /** Jobs waiting or running. */
  get size(): number {
    return this.count;
  }

  push(job: Job): void {
    this.count++;
    this.jobs.push(job);
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(() => void this.drain());
  }

  /** Resolves when every job pushed so far (and every job they pushed) has run. */
  async idle(): Promise<void> {
    while (this.count > 0) await new Promise<void>((resolve) => this.idlers.push(resolve));
  }

  private async drain(): Promise<void> {
    let job: Job | undefined;
    let sliceStart = performance.now();
    let sinceCheck = 0;
    while ((job = this.jobs.shift()) !== undefined) {
      let waited = false;
      try {
        const pending = typeof job === 'function' ? job() : this.judge(job);
        if (pending) {
          waited = true;
          await pending;
        }
      } catch (err) {
        this.failed(err);
      }
      this.count--;
      if ((waited || ++sinceCheck >= CHECK_EVERY) && this.jobs.length > 0) {
        sinceCheck = 0;
        if (performance.now() - sliceStart >= SLICE_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    }
    this.draining = false;
    const waiting = this.idlers;
    this.idlers = [];
    for (const resolve of waiting) resolve();
  }
}
