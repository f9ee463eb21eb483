import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { Suppression } from '../../../gateway/rules/actions.js';
import { HeldBackReporter, type HeldBack } from '../../../gateway/rules/held-back.js';
import { silentLog } from '../../helpers/ports.js';

const hold = (target: string): Suppression => ({ kind: 'min-on-off', rule: 'cool', target, retryAt: 2_000_000, data: { mode: 'off' }, holding: 'on', minimumMs: 300_000 });

describe('HeldBackReporter', () => {
  it('says a hold once while it lasts', () => {
    const said: HeldBack[] = [];
    const reporter = new HeldBackReporter(silentLog(), new ManualClock(1_000_000), (h) => said.push(h));
    reporter.report(hold('hq/f1/hvac'));
    reporter.report(hold('hq/f1/hvac'));
    expect(said.map((h) => h.target)).toEqual(['hq/f1/hvac']);
  });

  it('remembers a bounded number of actuators (targets come from readings): one forgotten is said again', () => {
    const said: HeldBack[] = [];
    const reporter = new HeldBackReporter(silentLog(), new ManualClock(1_000_000), (h) => said.push(h));
    for (let i = 0; i <= 10_000; i++) reporter.report(hold(`hq/z${i}/hvac`));
    reporter.report(hold('hq/z0/hvac'));
    expect(said).toHaveLength(10_002);
  });
});
