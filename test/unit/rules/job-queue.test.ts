/** The rules' queue: jobs and readings in arrival order, one at a time, a failure logged and passed. */
import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { JobQueue } from '../../../gateway/rules/job-queue.js';

const reading = (id: string): ReadingEvent => ({ id }) as unknown as ReadingEvent;

describe('JobQueue', () => {
  it('runs jobs and judges readings in arrival order, each after the one before has finished', async () => {
    const seen: string[] = [];
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const queue = new JobQueue(
      (r) => {
        seen.push(`judge ${r.id}`);
        // A reading that goes to the engine: the next waits for its run.
        return r.id === 'r2' ? tick().then(() => void seen.push('run r2 done')) : undefined;
      },
      () => undefined,
    );
    queue.push(async () => {
      seen.push('job a');
      await tick();
      seen.push('job a done');
    });
    queue.push(reading('r1'));
    queue.push(reading('r2'));
    queue.push(() => void seen.push('job b'));
    queue.push(reading('r3'));
    expect(queue.size).toBe(5);
    // Nothing runs before the current synchronous work ends.
    expect(seen).toEqual([]);
    await queue.idle();
    expect(seen).toEqual(['job a', 'job a done', 'judge r1', 'judge r2', 'run r2 done', 'job b', 'judge r3']);
    expect(queue.size).toBe(0);
  });

  it('logs a job that fails, thrown or rejected, and runs the next', async () => {
    const failures: unknown[] = [];
    const seen: string[] = [];
    const queue = new JobQueue(() => undefined, (err) => failures.push(err));
    queue.push(() => {
      throw new Error('thrown');
    });
    queue.push(() => Promise.reject(new Error('rejected')));
    queue.push(() => void seen.push('after'));
    await queue.idle();
    expect(failures.map((e) => (e as Error).message)).toEqual(['thrown', 'rejected']);
    expect(seen).toEqual(['after']);
  });

  it('is idle only once the jobs pushed by jobs have run too, and idle at once when empty', async () => {
    const seen: string[] = [];
    const queue = new JobQueue(() => undefined, () => undefined);
    await queue.idle();
    queue.push(async () => {
      await Promise.resolve();
      queue.push(() => void seen.push('pushed by a job'));
    });
    const first = queue.idle();
    const second = queue.idle();
    await Promise.all([first, second]);
    expect(seen).toEqual(['pushed by a job']);
    expect(queue.size).toBe(0);
  });

  it('lets the event loop take a turn while a long backlog drains (a socket read, an acknowledgement, /healthz), in order all the same', async () => {
    const seen: string[] = [];
    const busy = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    // Engine runs of a large pack: each a promise chain that keeps the CPU 15 ms.
    const queue = new JobQueue(
      (r) =>
        Promise.resolve().then(() => {
          busy(15);
          seen.push(`run ${r.id}`);
        }),
      () => undefined,
    );
    for (let i = 1; i <= 6; i++) queue.push(reading(`r${i}`));
    // I/O waiting meanwhile: on microtasks alone it ran only after the whole backlog.
    setImmediate(() => void seen.push('io'));
    await queue.idle();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.filter((s) => s !== 'io')).toEqual(['run r1', 'run r2', 'run r3', 'run r4', 'run r5', 'run r6']);
    expect(seen.indexOf('io')).toBeGreaterThan(0);
    expect(seen.indexOf('io')).toBeLessThan(seen.length - 1);
  });
});
