/** Devices that fall silent, on a manual clock: when they are called silent, what is stored, and who is not watched. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import type { DeviceSilenceEvent, ReadingEvent } from '../../../gateway/core/events.js';
import { SilenceWatch } from '../../../gateway/ingest/silence.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { deviceSilencePoint } from '../../../gateway/storage/points.js';
import { RecordingStore, testMetrics } from '../../helpers/ports.js';

function setup(offlineAfterMs = 60_000) {
  const clock = new ManualClock(Date.parse('2026-03-01T09:00:00Z'));
  const bus = new EventBus(pino({ level: 'silent' }));
  const store = new RecordingStore();
  const watch = new SilenceWatch({ bus, store, clock, log: pino({ level: 'silent' }), offlineAfterMs });
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
    t.bus.emit('deviceStatus', { id: 's2', device: 'd1', online: true, time: '', timeMs: 0, clientId: undefined });
    t.at(12 * 60_000);
    expect(t.events).toMatchObject([{ device: 'd1', silent: true }]);
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
  it('watches at most maxDevices and counts the messages of the devices beyond', async () => {
    const clock = new ManualClock(Date.parse('2026-03-01T09:00:00Z'));
    const bus = new EventBus(pino({ level: 'silent' }));
    const metrics = testMetrics(clock);
    const watch = new SilenceWatch({ bus, store: new RecordingStore(), clock, log: pino({ level: 'silent' }), offlineAfterMs: 60_000, maxDevices: 3, metrics });
    watch.start();
    for (const device of ['a', 'b', 'c', 'd', 'e', 'd']) bus.emit('reading', { device } as ReadingEvent);
    expect(await metrics.registry.getSingleMetricAsString('gateway_silence_unwatched_total')).toMatch(/gateway_silence_unwatched_total 3$/m);
    watch.stop();
  });
});
