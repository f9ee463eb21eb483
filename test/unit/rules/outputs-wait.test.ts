/**
 * RuleOutputs waits for the spool's write before a command goes out, at most
 * COMMAND_STORE_WAIT_MS (rules/outputs.ts). A failing group is retried as the same promise: an
 * output kept after an earlier one gave up must still get its own wait, not go out at once
 * (found by a review: B kept 100 ms after A's wait ran out went out with it, unstored).
 */
import { pino } from 'pino';
import { afterEach, expect, it, vi } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { Store } from '../../../gateway/core/store.js';
import type { Outcome } from '../../../gateway/rules/actions.js';
import { RuleOutputs } from '../../../gateway/rules/outputs.js';
import { GroupCommit } from '../../../gateway/storage/spool/group-commit.js';
import { count, testMetrics } from '../../helpers/ports.js';

afterEach(() => vi.useRealTimers());

it('gives a command kept while a failing group is retried its own COMMAND_STORE_WAIT_MS, and publishes it once the disk takes it', async () => {
  vi.useFakeTimers();
  const silent = pino({ level: 'silent' });
  let failing = true;
  const commits = new GroupCommit({
    log: silent,
    write: () => (failing ? Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })) : Promise.resolve()),
  });
  const store = { keep: (_name: string, e: { id: string }) => (commits.add(`${e.id}\n`), true), committed: () => commits.committed(), written: () => commits.written() } as unknown as Store;
  const t0 = Date.now();
  const published: { id: string; at: number }[] = [];
  const publisher = { publish: (_topic: string, payload: string) => (published.push({ id: (JSON.parse(payload) as { id: string }).id, at: Date.now() - t0 }), Promise.resolve()) };
  const metrics = testMetrics(new ManualClock(0));
  const outputs = new RuleOutputs({ publisher, store, metrics, bus: new EventBus(silent), log: silent, storeWaitMs: 1000 });
  const command = (id: string) => ({ kind: 'command', id, actuator: 'hvac', topic: 'commands/s/z/hvac', rule: 'r', cloudEvent: { id, correlationid: id, data: { mode: 'cool' } } }) as unknown as Outcome;

  void outputs.outcome(command('A'));
  await vi.advanceTimersByTimeAsync(1100);
  expect(published).toEqual([{ id: 'A', at: 1000 }]);
  void outputs.outcome(command('B'));
  await vi.advanceTimersByTimeAsync(500);
  // Still failing, and B's second of waiting is not over.
  expect(published.map((p) => p.id)).toEqual(['A']);
  failing = false;
  await vi.advanceTimersByTimeAsync(10_000);
  const b = published.find((p) => p.id === 'B');
  expect(b?.at).toBeGreaterThan(1100);
  expect(await count(metrics, 'gateway_outputs_unstored_total', { kind: 'command' })).toBeGreaterThanOrEqual(1);
});
