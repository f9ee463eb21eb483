/** Devices that fall silent, on a manual clock: when they are called silent, what is stored, and who is not watched. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import type { AlarmTransitionEvent, DeviceSilenceEvent, ReadingEvent } from '../../../gateway/core/events.js';
import { SilenceWatch } from '../../../gateway/ingest/silence.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { deviceSilencePoint } from '../../../gateway/storage/points.js';
import { captureLogs } from '../../helpers/gateway.js';
import { RecordingStore, count, testMetrics } from '../../helpers/ports.js';

function setup(offlineAfterMs = 60_000, log = pino({ level: 'silent' })) {
  const clock = new ManualClock(Date.parse('2026-03-01T09:00:00Z'));
  const bus = new EventBus(pino({ level: 'silent' }));
  const store = new RecordingStore();
  const watch = new SilenceWatch({ bus, store, clock, log, offlineAfterMs });
  const events: DeviceSilenceEvent[] = [];
  bus.on('deviceSilence', (e) => void events.push(e));
  watch.start();
  const reading = (device: string) => bus.emit('reading', { device } as ReadingEvent);
  /** Runs the clock on to `ms` after the start, timers included. */
  const at = (ms: number) => {
    const target = Date.parse('2026-03-01T09:00:00Z') + ms;
    while (clock.fireNext(target));
    clock.advanceTo(target);
  };
  // What reaches InfluxDB: the points of the events kept.
  const lines = { get all() { return store.events('deviceSilence').map((e) => deviceSilencePoint(e, () => String(e.timeMs))); } };
  return { clock, bus, lines, watch, events, reading, at };
}

describe('silence', () => {
  it('calls a device silent once nothing was heard for OFFLINE_AFTER_MS, stores it, and takes it back when heard again', () => {
    const t = setup(60_000);
    t.reading('t1');
    t.at(10_000);
    t.reading('t1');
    t.at(69_000);
    expect(t.events).toEqual([]);
    t.at(90_000);
    expect(t.events).toMatchObject([{ device: 't1', silent: true, lastHeardMs: Date.parse('2026-03-01T09:00:10Z') }]);
    expect(t.lines.all).toHaveLength(1);
    expect(t.lines.all[0]).toMatch(/^device_status,device=t1 online=false,silent=true,event_id="[^"]+" \d+\n$/);
    t.at(600_000);
    expect(t.events).toHaveLength(1);
    t.reading('t1');
    expect(t.events.at(-1)).toMatchObject({ device: 't1', silent: false });
    expect(t.lines.all.at(-1)).toMatch(/online=true,silent=false/);
  });

  it('says a device is heard again, and for how long it was silent, as it said it was silent; a building coming back is 20 lines and a count', () => {
    const { lines: logged, stream } = captureLogs();
    const t = setup(60_000, pino(stream));
    for (let i = 0; i < 25; i++) t.reading(`d${i}`);
    t.at(10_000);
    t.reading('d0');
    t.at(90_000);
    expect(logged.filter((l) => String(l.msg).endsWith('is silent: nothing heard from it since 2026-03-01T09:00:10.000Z'))).toHaveLength(1);
    t.at(600_000);
    for (let i = 0; i < 25; i++) t.reading(`d${i}`);
    const back = logged.filter((l) => String(l.msg).includes('is heard again'));
    expect(back).toHaveLength(20);
    expect(back[0]).toMatchObject({ level: 30, device: 'd0', silentForS: 590, lastHeard: '2026-03-01T09:00:10.000Z', msg: 'device d0 is heard again after 590 s of silence' });
    t.at(660_000);
    expect(logged.filter((l) => l.msg === 'and 5 more devices are heard again')).toHaveLength(1);
  });

  it('waits three of its usual intervals for a device that reports more rarely than OFFLINE_AFTER_MS, once it knows them', () => {
    const t = setup(60_000);
    for (let i = 0; i <= 4; i++) {
      t.at(i * 10 * 60_000);
      t.reading('rare');
    }
    // Before its second message its interval is unknown: OFFLINE_AFTER_MS applied, once.
    expect(t.events.map((e) => e.silent)).toEqual([true, false]);
    t.at(4 * 10 * 60_000 + 25 * 60_000);
    expect(t.events).toHaveLength(2);
    t.at(4 * 10 * 60_000 + 31 * 60_000);
    expect(t.events.at(-1)).toMatchObject({ device: 'rare', silent: true, lastHeardMs: Date.parse('2026-03-01T09:40:00Z') });
  });

  it('does not learn a long interval from the time a device was silent: back, then quiet again, it is called silent as soon as before', () => {
    const t = setup(60_000);
    for (let i = 0; i <= 10; i++) {
      t.at(i * 10_000);
      t.reading('t1');
    }
    // Silent for ten hours, then heard again once, then silent again.
    t.at(100_000 + 10 * 3600_000);
    expect(t.events.map((e) => e.silent)).toEqual([true]);
    t.reading('t1');
    expect(t.events.map((e) => e.silent)).toEqual([true, false]);
    t.at(100_000 + 10 * 3600_000 + 90_000);
    expect(t.events.map((e) => e.silent)).toEqual([true, false, true]);
  });

  it('does not watch a device that said offline, until it speaks again', () => {
    const t = setup(60_000);
    t.reading('d1');
    t.bus.emit('deviceStatus', { id: 's', device: 'd1', online: false, time: '', timeMs: 0, clientId: undefined });
    t.at(10 * 60_000);
    expect(t.events).toEqual([]);
    // Back with a reading (no status): watched again.
    t.reading('d1');
    t.at(12 * 60_000);
    expect(t.events).toMatchObject([{ device: 'd1', silent: true }]);
  });

  it('does not call a device silent that said online and sends no readings (a relay: its will says when it goes); one that sends readings is watched for them', () => {
    const t = setup(60_000);
    const status = (device: string, online: boolean) => t.bus.emit('deviceStatus', { id: `s-${device}-${online}`, device, online, time: '', timeMs: 0, clientId: undefined });
    status('relay', true);
    status('sensor', true);
    t.reading('sensor');
    t.reading('plain');
    t.at(3 * 3600_000);
    expect(t.events.map((e) => e.device).sort()).toEqual(['plain', 'sensor']);
    // Its will: offline, away, not silent; back with a reading only, it is watched again.
    status('relay', false);
    t.at(4 * 3600_000);
    t.reading('relay');
    t.at(4 * 3600_000 + 90_000);
    expect(t.events.filter((e) => e.device === 'relay').map((e) => e.silent)).toEqual([true]);
  });

  it('stops watching a device whose alarm an operator cleared as removed; one not cleared, or only acknowledged, is still called silent; the removed one, back, is watched again', () => {
    const t = setup(60_000);
    const transition = (device: string, transition: 'acknowledged' | 'cleared', reason: string) =>
      ({ id: `t-${device}-${transition}`, alarmId: `a-${device}`, transition, active: transition !== 'cleared', correlationId: 'c', reason, facts: undefined, time: '', timeMs: 0, rule: 'smoke-alarm', type: 'safety.smoke', severity: 'critical', site: 'hq', zone: 'k1', device, actuator: undefined, message: '', count: 1, value: true, firstSeen: 0, lastSeen: 0, acknowledged: true, acknowledgedBy: 'ops' }) as AlarmTransitionEvent;
    for (const d of ['sd5', 'sd6', 'sd7']) t.reading(d);
    t.at(10_000);
    t.bus.emit('alarm', transition('sd5', 'cleared', 'cleared by ops: sd5 removed'));
    t.bus.emit('alarm', transition('sd6', 'acknowledged', 'acknowledged by ops'));
    t.bus.emit('alarm', transition('sd7', 'cleared', 'clear condition met by sd7 (false)'));
    t.at(30 * 60_000);
    expect(t.events.map((e) => e.device).sort()).toEqual(['sd6', 'sd7']);
    t.reading('sd5');
    t.at(31 * 60_000 + 90_000);
    expect(t.events.filter((e) => e.device === 'sd5')).toMatchObject([{ silent: true }]);
  });

  it('starts from what was stored before a restart: away stays unwatched, silent is announced back when heard, the others count from the start', () => {
    const t = setup(60_000);
    const start = Date.parse('2026-03-01T09:00:00Z');
    t.watch.seed([
      { device: 'away', lastHeardMs: start - 3600_000, away: true, silent: false },
      { device: 'mute', lastHeardMs: start - 3600_000, away: false, silent: true },
      { device: 'known', lastHeardMs: start - 3600_000, away: false, silent: false },
    ]);
    // Heard an hour before the start: silent one OFFLINE_AFTER_MS after the start, not at once.
    t.at(50_000);
    expect(t.events).toEqual([]);
    t.at(90_000);
    expect(t.events).toMatchObject([{ device: 'known', silent: true, lastHeardMs: start - 3600_000 }]);
    t.reading('mute');
    expect(t.events.at(-1)).toMatchObject({ device: 'mute', silent: false });
    t.at(10 * 60_000);
    expect(t.events.filter((e) => e.device === 'away')).toEqual([]);
  });

  it('watches nothing with OFFLINE_AFTER_MS=0', () => {
    const t = setup(0);
    t.reading('d1');
    expect(t.clock.pendingTimers).toBe(0);
  });
});

describe('silence watch bound', () => {
  const START = Date.parse('2026-03-01T09:00:00Z');
  const MIN = 60_000;
  function bounded(maxDevices: number, offlineAfterMs = 15 * MIN) {
    const clock = new ManualClock(START);
    const bus = new EventBus(pino({ level: 'silent' }));
    const metrics = testMetrics(clock);
    const watch = new SilenceWatch({ bus, store: new RecordingStore(), clock, log: pino({ level: 'silent' }), offlineAfterMs, maxDevices, metrics });
    const silent: string[] = [];
    const back: string[] = [];
    bus.on('deviceSilence', (e) => void (e.silent ? silent : back).push(e.device));
    watch.start();
    const reading = (device: string) => bus.emit('reading', { device } as ReadingEvent);
    const at = (ms: number) => {
      while (clock.fireNext(START + ms));
      clock.advanceTo(START + ms);
    };
    const evictions = () => count(metrics, 'gateway_memory_evictions_total', { map: 'silence_watch' });
    return { bus, watch, silent, back, reading, at, evictions };
  }

  it('after a flood of one-shot ids, still reports a device that reports every 10 minutes and a new one heard after the flood when they fall silent', async () => {
    const t = bounded(4);
    // A smoke detector that reports every 10 minutes: its interval is learnt (silent after 30 min).
    for (const m of [0, 10, 20]) {
      t.at(m * MIN);
      t.reading('smoke');
    }
    // A flood of made-up ids, each heard once, many times what the watch holds.
    t.at(20 * MIN + 1);
    for (let i = 0; i < 1000; i++) t.reading(`fake-${i}`);
    t.at(25 * MIN);
    t.reading('new-detector');
    t.at(30 * MIN);
    t.reading('smoke');
    // The flood's ids fall silent (those still watched); the new detector said one word and died.
    t.at(41 * MIN);
    expect(t.silent).toContain('new-detector');
    expect(t.silent).not.toContain('smoke');
    // The smoke detector stops: reported once three of its intervals have gone by.
    t.at(59 * MIN);
    expect(t.silent).not.toContain('smoke');
    t.at(61 * MIN);
    expect(t.silent).toContain('smoke');
    expect(await t.evictions()).toBeGreaterThanOrEqual(1000 - 4);
    t.watch.stop();
  });

  it('keeps a device known from the stored history through a flood after a restart, before it has spoken again', () => {
    const t = bounded(3);
    t.watch.seed([{ device: 'smoke', lastHeardMs: START - MIN, away: false, silent: false }]);
    t.at(MIN);
    for (let i = 0; i < 100; i++) t.reading(`fake-${i}`);
    t.at(16 * MIN);
    expect(t.silent).toContain('smoke');
    t.watch.stop();
  });

  it('forgets first a device that said offline, then one-shot ids already reported silent, then the ones heard once, before a device that reports', async () => {
    const t = bounded(4);
    for (const m of [0, 10]) {
      t.at(m * MIN);
      t.reading('smoke');
    }
    t.reading('gone');
    t.bus.emit('deviceStatus', { id: 's', device: 'gone', online: false, time: '', timeMs: 0, clientId: undefined });
    t.at(11 * MIN);
    t.reading('once');
    t.reading('stale');
    t.at(27 * MIN);
    expect(t.silent).toEqual(['once', 'stale']);
    // Full (smoke, gone, once, stale): fresh takes gone's place; n1 and n2 those of once and stale
    // (heard once, already reported silent); n3 that of fresh, the oldest heard once and not yet silent.
    t.reading('fresh');
    t.at(28 * MIN);
    for (const d of ['n1', 'n2', 'n3']) t.reading(d);
    expect(await t.evictions()).toBe(4);
    // smoke (10-minute reports) is still watched: silent 30 minutes after its last word; n1..n3 15 minutes after theirs.
    t.at(44 * MIN);
    expect(t.silent).toEqual(['once', 'stale', 'smoke', 'n1', 'n2', 'n3']);
    t.watch.stop();
  });

  it('announces back a device forgotten while it was silent, when it speaks again (the live page and the API would show it silent for good)', async () => {
    const t = bounded(2);
    for (const m of [0, 10]) {
      t.at(m * MIN);
      t.reading('smoke');
    }
    t.at(45 * MIN);
    expect(t.silent).toEqual(['smoke']);
    // A device that reports (heard twice), then a newcomer: the full watch forgets the silent one.
    t.reading('a');
    t.at(46 * MIN);
    t.reading('a');
    t.reading('b');
    expect(await t.evictions()).toBe(1);
    t.reading('smoke');
    expect(t.back).toEqual(['smoke']);
    // Watched again: it falls silent again once quiet.
    t.at(80 * MIN);
    expect(t.silent.filter((d) => d === 'smoke')).toHaveLength(2);
    t.watch.stop();
  });

  it('does not announce back a one-shot id of a flood forgotten while silent', () => {
    const t = bounded(2);
    t.reading('fake-1');
    t.at(16 * MIN);
    expect(t.silent).toEqual(['fake-1']);
    for (const d of ['a', 'b']) t.reading(d);
    t.reading('fake-1');
    expect(t.back).toEqual([]);
    t.watch.stop();
  });
});
