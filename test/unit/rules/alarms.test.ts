/** The alarm book on the ManualClock: raise once, update, repeat at most every repeatMs, acknowledge, clear, and the rebuild's dry run. */
import { describe, expect, it } from 'vitest';
import type { AlarmTransition, AlarmTransitionEvent } from '../../../gateway/core/events.js';
import { byTime, type HistoryItem } from '../../../gateway/core/history.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { AlarmBook, UPDATE_STORE_MS, type AlarmTimes } from '../../../gateway/rules/alarms.js';

const subject = { rule: 'smoke-alarm', type: 'safety.smoke', severity: 'critical', site: 'hq', zone: 'f1', device: 'smk-1' } as const;
const occ = (id: string, value: unknown = true) => ({ message: 'smoke', value, kind: 'smoke', device: 'smk-1', correlationId: id });

function book(times: AlarmTimes = { repeatMs: 60_000, clearAfterMs: 30_000 }, timesOf: () => AlarmTimes | undefined = () => times) {
  const clock = new ManualClock(1_000_000);
  const transitions: [AlarmTransitionEvent, boolean][] = [];
  const wakes = new Map<string, number>();
  const alarms = new AlarmBook({
    clock,
    onTransition: (t, persist) => transitions.push([t, persist]),
    schedule: (id, at) => (at === undefined ? wakes.delete(id) : wakes.set(id, at)),
    timesOf,
  });
  /** Moves the clock, waking the book at the deadlines it asked for. */
  const advance = (ms: number): void => {
    const to = clock.now() + ms;
    for (;;) {
      const due = [...wakes].filter(([, at]) => at <= to).sort((a, b) => a[1] - b[1])[0];
      if (!due) break;
      clock.advanceTo(due[1]);
      wakes.delete(due[0]);
      alarms.quiet(due[0]);
    }
    clock.advanceTo(to);
  };
  return { clock, alarms, transitions, advance, times, names: () => transitions.map(([t]) => t.transition) };
}

describe('AlarmBook', () => {
  it('raises once and then updates (count, last value, last seen), notifying again only after repeatMs', () => {
    const { alarms, advance, names, times } = book({ repeatMs: 60_000, clearAfterMs: 300_000 });
    expect(alarms.fire(subject, times, occ('r1')).notify).toBe('raised');
    advance(1000);
    expect(alarms.fire(subject, times, occ('r2')).notify).toBeUndefined();
    advance(59_000);
    const { alarm, notify } = alarms.fire(subject, times, occ('r3'));
    expect(notify).toBe('repeat');
    expect(alarm).toMatchObject({ count: 3, notifications: 2, correlationId: 'r1', lastCorrelationId: 'r3' });
    expect(names()).toEqual(['raised', 'updated', 'updated']);
    expect(alarms.alert(alarm!, 'r3').cloudEvent.data).toMatchObject({ alarmId: alarm!.id, count: 3, repeat: 1 });
  });

  it('stores an update at most every 10 s (raises, repeats, acks and clears always)', () => {
    const { alarms, advance, transitions, times } = book({ repeatMs: 1e12, clearAfterMs: undefined });
    alarms.fire(subject, times, occ('r0'));
    for (let i = 1; i <= 30; i++) {
      advance(1000);
      alarms.fire(subject, times, occ(`r${i}`));
    }
    const stored = transitions.filter(([, persist]) => persist).map(([t]) => t.transition);
    expect(stored).toEqual(['raised', 'updated', 'updated', 'updated']);
    expect(UPDATE_STORE_MS).toBe(10_000);
  });

  it('stops repeating once acknowledged, and can be acknowledged after it cleared', () => {
    const { alarms, advance, names, times } = book();
    const { alarm } = alarms.fire(subject, times, occ('r1'));
    alarms.acknowledge(alarm!.id, 'ops', 'on my way', 'ack-1');
    advance(120_000);
    expect(alarms.get(alarm!.id)?.clearedAt).toBeDefined();
    const again = book({ repeatMs: 60_000, clearAfterMs: 300_000 });
    const first = again.alarms.fire(subject, again.times, occ('r1')).alarm!;
    again.advance(61_000);
    again.alarms.acknowledge(first.id, 'ops', undefined, 'ack-2');
    expect(again.alarms.fire(subject, again.times, occ('r2')).notify).toBeUndefined();
    expect(names()).toEqual(['raised', 'acknowledged', 'cleared']);
    // Cleared and then acknowledged: ThingsBoard's "cleared, acknowledged".
    const late = book();
    const a = late.alarms.fire(subject, late.times, occ('r1')).alarm!;
    late.advance(30_000);
    expect(late.alarms.acknowledge(a.id, 'ops', undefined, 'ack-3')?.acknowledged).toBe(true);
    expect(late.names()).toEqual(['raised', 'cleared', 'acknowledged']);
  });

  it('clears after clearAfterMs without a firing, counting from the last one; the next firing raises a new alarm', () => {
    const { alarms, advance, transitions, times } = book();
    const first = alarms.fire(subject, times, occ('r1')).alarm!;
    advance(20_000);
    alarms.fire(subject, times, occ('r2'));
    advance(29_999);
    expect(alarms.size).toBe(1);
    advance(1);
    expect(alarms.size).toBe(0);
    expect(transitions.at(-1)?.[0]).toMatchObject({ transition: 'cleared', reason: 'no firing for 30 s', correlationId: 'r2' });
    const second = alarms.fire(subject, times, occ('r3'));
    expect(second.notify).toBe('raised');
    expect(second.alarm!.id).not.toBe(first.id);
  });

  it('with only an explicit clear, waits for it however long it is quiet', () => {
    const { alarms, advance, times } = book({ repeatMs: 60_000, clearAfterMs: undefined });
    const a = alarms.fire(subject, times, occ('r1')).alarm!;
    advance(3_600_000);
    expect(alarms.size).toBe(1);
    expect(alarms.explicitIn('hq', 'f1')).toEqual([a]);
    alarms.clear(a, 'clear condition met', 'r2');
    expect(alarms.waitsInZone('hq', 'f1')).toBe(false);
  });

  it('in a dry run raises nothing and notifies nothing, but keeps a restored alarm’s count and last seen; a quiet period that ran out clears it when going live', () => {
    const { alarms, advance, transitions, times, clock } = book();
    alarms.dry = true;
    expect(alarms.fire(subject, times, occ('r1'))).toEqual({ alarm: undefined, notify: undefined });
    const stored: AlarmTransitionEvent = {
      id: 't1', alarmId: 'alarm-1', transition: 'raised', rule: subject.rule, type: subject.type, severity: subject.severity, site: 'hq', zone: 'f1', device: 'smk-1', actuator: undefined,
      message: 'smoke', count: 1, value: true, firstSeen: clock.now(), lastSeen: clock.now(), acknowledged: false, acknowledgedBy: undefined, active: true, notifiedAt: clock.now(), notifications: 1,
      correlationId: 'r1', reason: undefined, facts: undefined, time: new Date(clock.now()).toISOString(), timeMs: clock.now(),
    };
    alarms.restore(stored);
    advance(5000);
    expect(alarms.fire(subject, times, occ('r2')).notify).toBeUndefined();
    expect(alarms.get('alarm-1')).toMatchObject({ count: 2, lastCorrelationId: 'r2' });
    advance(60_000);
    expect(alarms.size).toBe(1);
    expect(transitions).toEqual([]);
    alarms.goLive();
    expect(alarms.size).toBe(0);
    expect(transitions.map(([t]) => [t.alarmId, t.transition])).toEqual([['alarm-1', 'cleared']]);
    // An acknowledgement stored after a clear does not bring the alarm back.
    alarms.dry = true;
    alarms.restore({ ...stored, id: 't2', alarmId: 'alarm-2', transition: 'acknowledged', acknowledged: true, active: false });
    expect(alarms.size).toBe(0);
    expect(alarms.knows('alarm-2')).toBe(true);
  });

  it('does not guess how an alarm restored without its rule clears: it stays active until its rule is loaded again, then clears by that rule', () => {
    const inForce: { times?: AlarmTimes } = {};
    const { alarms, advance, transitions, clock } = book(undefined, () => inForce.times);
    alarms.dry = true;
    alarms.restore({
      id: 't1', alarmId: 'alarm-1', transition: 'raised', rule: 'heat-alarm', type: 'safety.heat', severity: 'critical', site: 'hq', zone: 'f1', device: 'smk-1', actuator: undefined,
      message: 'hot', count: 1, value: 80, firstSeen: clock.now(), lastSeen: clock.now(), acknowledged: false, acknowledgedBy: undefined, active: true, notifiedAt: clock.now(), notifications: 1,
      correlationId: 'r1', reason: undefined, facts: undefined, time: new Date(clock.now()).toISOString(), timeMs: clock.now(),
    });
    advance(10 * 60_000);
    alarms.goLive();
    advance(10 * 60_000);
    const a = alarms.get('alarm-1')!;
    expect(alarms.view(a)).toMatchObject({ state: 'active', ruleNotLoaded: true });
    expect(transitions).toEqual([]);
    // Nothing can clear it until its rule is back: no reading of its zone goes to the engine for it.
    expect(alarms.waitsInZone('hq', 'f1')).toBe(false);
    // Rules changed, still without it: nothing changes.
    alarms.rulesChanged();
    advance(1000);
    expect(alarms.size).toBe(1);
    // Its rule is back, with a 5-minute quiet time: its last firing was 20 minutes ago.
    inForce.times = { repeatMs: 60_000, clearAfterMs: 5 * 60_000 };
    alarms.rulesChanged();
    expect(alarms.view(a).ruleNotLoaded).toBeUndefined();
    advance(0);
    expect(transitions.map(([t]) => [t.alarmId, t.transition, t.reason])).toEqual([['alarm-1', 'cleared', 'no firing for 300 s']]);
    expect(alarms.waitsInZone('hq', 'f1')).toBe(false);
  });

  it('an alarm restored without its rule whose rule comes back with a clear condition is checked by the readings of its zone again', () => {
    const inForce: { times?: AlarmTimes } = {};
    const { alarms, clock } = book(undefined, () => inForce.times);
    alarms.dry = true;
    alarms.restore({
      id: 't1', alarmId: 'alarm-1', transition: 'raised', rule: 'door-open', type: 'security.door', severity: 'warning', site: 'hq', zone: 'f2', device: 'door-1', actuator: undefined,
      message: 'open', count: 1, value: true, firstSeen: clock.now(), lastSeen: clock.now(), acknowledged: false, acknowledgedBy: undefined, active: true, notifiedAt: clock.now(), notifications: 1,
      correlationId: 'r1', reason: undefined, facts: undefined, time: new Date(clock.now()).toISOString(), timeMs: clock.now(),
    });
    alarms.goLive();
    expect(alarms.waitsInZone('hq', 'f2')).toBe(false);
    // Back with clearWhen (no quiet time): the zone's readings are checked against it.
    inForce.times = { repeatMs: 60_000, clearAfterMs: undefined };
    alarms.rulesChanged();
    expect(alarms.waitsInZone('hq', 'f2')).toBe(true);
  });
});

describe('same-millisecond alarm transitions in a rebuild', () => {
  const at = 1_000_000;
  const stored = (transition: AlarmTransition, over: Partial<AlarmTransitionEvent> = {}): AlarmTransitionEvent => ({
    id: `t-${transition}`, alarmId: 'alarm-1', transition, rule: subject.rule, type: subject.type, severity: subject.severity, site: 'hq', zone: 'f1', device: 'smk-1', actuator: undefined,
    message: 'smoke', count: 1, value: true, firstSeen: at, lastSeen: at, acknowledged: transition === 'acknowledged' || transition === 'cleared', acknowledgedBy: undefined,
    active: transition !== 'cleared', notifiedAt: at, notifications: 1, correlationId: 'r1', reason: undefined, facts: undefined, time: new Date(at).toISOString(), timeMs: at, ...over,
  });
  const item = (event: AlarmTransitionEvent): HistoryItem => ({ type: 'alarm', event });

  it('byTime puts an alarm’s transitions of one millisecond in the order they happen: raised, updated, acknowledged, cleared', () => {
    const all: AlarmTransition[] = ['raised', 'updated', 'acknowledged', 'cleared'];
    // Every order InfluxDB might return them in (4! of them).
    const orders = (xs: AlarmTransition[]): AlarmTransition[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => orders([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest])));
    for (const order of orders(all)) expect(order.map((t) => item(stored(t))).sort(byTime).map((i) => (i.event as AlarmTransitionEvent).transition)).toEqual(all);
  });

  it('an alarm cleared with an acknowledgement at one millisecond stays cleared whichever of the two is replayed last', () => {
    for (const order of [['acknowledged', 'cleared'], ['cleared', 'acknowledged']] as const) {
      const { alarms } = book({ repeatMs: 60_000, clearAfterMs: undefined });
      alarms.dry = true;
      alarms.restore(stored('raised'));
      for (const t of order) alarms.restore(stored(t));
      alarms.goLive();
      expect(alarms.size).toBe(0);
      expect(alarms.view(alarms.get('alarm-1')!)).toMatchObject({ state: 'cleared', acknowledged: true, clearedAt: at });
    }
  });

  it('an alarm replaced by a new one of its key is not brought back by its own transition of the same millisecond', () => {
    const { alarms } = book({ repeatMs: 60_000, clearAfterMs: undefined });
    alarms.dry = true;
    alarms.restore(stored('raised'));
    alarms.restore(stored('raised', { id: 't-new', alarmId: 'alarm-2', correlationId: 'r2' }));
    alarms.restore(stored('updated', { count: 2 }));
    alarms.goLive();
    expect(alarms.active().map((a) => a.id)).toEqual(['alarm-2']);
  });
});
