/** The trace's steps in cause-and-effect order where they share a millisecond (a timer's run raising an alarm). */
import { describe, expect, it } from 'vitest';
import type { AlarmTransitionEvent, ReadingEvent } from '../../../gateway/core/events.js';
import type { Firing } from '../../../gateway/rules/engine.js';
import { TraceLog } from '../../../gateway/rules/trace.js';

const T0 = 1_795_000_000_000;
const DUE = T0 + 120_000;

describe('TraceLog', () => {
  it('lists a held-for timer’s wake and firing before the alarm they raised, though the alarm was recorded first in the same millisecond', () => {
    const log = new TraceLog();
    const door = { id: 'door-1', source: 'hq/f1/d1', kind: 'contact', value: true, timeMs: T0 } as unknown as ReadingEvent;
    log.ran(door, undefined, [], [{ kind: 'already-in-state', rule: 'door-open', target: 'hq/f1' }] as never, T0, 0);
    // Two minutes later the timer fires: the alarm's transition comes out during the run, the run's record after it.
    log.alarm({ id: 'tr-1', alarmId: 'alarm-1', transition: 'raised', rule: 'door-open', severity: 'warning', count: 1, message: 'door open', reason: undefined, correlationId: 'door-1', timeMs: DUE } as unknown as AlarmTransitionEvent);
    log.ran(door, { type: 'watch', watchId: 'w1', key: 'hq/f1/d1' }, [{ rule: { name: 'door-open' }, event: {}, facts: [] } as unknown as Firing], [], DUE);
    const steps = log.find('alarm-1')!.steps.map((s) => s.step);
    expect(steps.slice(-3)).toEqual(['wake', 'firing', 'alarm']);
  });
});
