/**
 * The publish pipeline's acknowledgements: publishes waiting on one promise (a spool commit group)
 * share one reaction, and each is still called back once, in arrival order, with the group's
 * outcome; publishes of different groups are called back as their own group settles.
 */
import { describe, expect, it } from 'vitest';
import { callAll, type AckCallback } from '../../../gateway/broker/publish-pipeline.js';
import { WaitBatches } from '../../../gateway/core/wait-batches.js';
import { deferred } from '../../helpers/deferred.js';

/** Publishes as the pipeline acknowledges them: publish i waits on groupOf(i), or on nothing. */
function setup(groupOf: (n: number) => Promise<void> | undefined) {
  const acks = new WaitBatches<AckCallback>(callAll);
  const calls: { i: number; err: Error | null }[] = [];
  const publish = (i: number): void => {
    const callback = (err: Error | null): void => void calls.push({ i, err });
    const pending = groupOf(i);
    if (pending) acks.add(pending, callback);
    else callback(null);
  };
  return { publish, calls };
}

const settled = () => new Promise((r) => setImmediate(r));

describe('the publish pipeline’s acknowledgements (WaitBatches with callAll)', () => {
  it('calls back each publish once, in arrival order within a group, when its own group settles', async () => {
    const a = deferred();
    const b = deferred();
    // Publishes 0–2 wait on group a, 3–4 on group b, 5 on a again (an older group still pending), 6 needs no wait.
    const groups = [a.promise, a.promise, a.promise, b.promise, b.promise, a.promise, undefined];
    const { publish, calls } = setup((n) => groups[n]);
    for (let i = 0; i < groups.length; i++) publish(i);
    expect(calls).toEqual([{ i: 6, err: null }]);
    b.resolve();
    await settled();
    expect(calls.map((c) => c.i)).toEqual([6, 3, 4]);
    a.resolve();
    await settled();
    expect(calls.map((c) => c.i)).toEqual([6, 3, 4, 0, 1, 2, 5]);
    expect(calls.every((c) => c.err === null)).toBe(true);
  });

  it('refuses every publish of a group that fails, with its error', async () => {
    const a = deferred();
    const { publish, calls } = setup(() => a.promise);
    for (let i = 0; i < 3; i++) publish(i);
    a.reject(new Error('disk refused'));
    await settled();
    expect(calls.map((c) => [c.i, c.err?.message])).toEqual([
      [0, 'disk refused'],
      [1, 'disk refused'],
      [2, 'disk refused'],
    ]);
  });

  it('a new group after one settled gets its own wait', async () => {
    const a = deferred();
    const c = deferred();
    let group = a.promise;
    const { publish, calls } = setup(() => group);
    publish(0);
    a.resolve();
    await settled();
    group = c.promise;
    publish(1);
    await settled();
    expect(calls.map((x) => x.i)).toEqual([0]);
    c.resolve();
    await settled();
    expect(calls.map((x) => x.i)).toEqual([0, 1]);
  });
});

describe('callAll', () => {
  it('calls every callback even when one throws, then throws the first error', () => {
    const called: number[] = [];
    const callbacks = [0, 1, 2].map((i) => () => {
      called.push(i);
      if (i > 0) throw new Error(`callback ${i}`);
    });
    expect(() => callAll(callbacks, null)).toThrow('callback 1');
    expect(called).toEqual([0, 1, 2]);
  });
});
