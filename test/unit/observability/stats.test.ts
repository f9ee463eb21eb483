/** The gateway_stats point on the ManualClock: one per interval, counts of that interval only, kept through the store. */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayStatsEvent } from '../../../gateway/core/events.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { StatsReporter } from '../../../gateway/observability/stats.js';
import { captureLogs } from '../../helpers/gateway.js';
import { RecordingStore, drained, testMetrics } from '../../helpers/ports.js';

const START = Date.parse('2026-11-27T10:00:00.000Z');
const INTERVAL_MS = 10_000;

const reporters: StatsReporter[] = [];
afterEach(async () => {
  for (const r of reporters.splice(0)) await r.stop();
});

async function setup(o: { intervalMs?: number } = {}) {
  const clock = new ManualClock(START);
  const { lines, stream } = captureLogs();
  const store = new RecordingStore();
  const metrics = testMetrics(clock);
  const spool = { bytes: 4096, events: 12, oldestAppendedAt: START as number | undefined };
  const reporter = new StatsReporter({
    metrics,
    store,
    clock,
    log: pino({ level: 'debug' }, stream),
    intervalMs: o.intervalMs ?? INTERVAL_MS,
    spool: () => spool,
    connectedClients: () => 3,
    influxUp: () => true,
    host: 'gw-test',
  });
  reporters.push(reporter);
  await reporter.start();

  /** Runs the reporter's timer (the next interval's end) and returns the point it kept. */
  const nextPoint = async (): Promise<GatewayStatsEvent> => {
    const due = clock.nextDueAt();
    expect(due, 'a stats timer is set').toBeDefined();
    const kept = store.next('stats');
    clock.advanceTo(due!);
    const { event } = await kept;
    // The reporter sets its next timer once the point is kept.
    await drained();
    return event;
  };
  return { clock, lines, store, metrics, spool, reporter, nextPoint };
}

describe('StatsReporter', () => {
  it('keeps one gateway_stats point per interval, with the counts of that interval only', async () => {
    const { metrics, nextPoint } = await setup();
    for (let i = 0; i < 3; i++) metrics.countReading('temperature');
    metrics.deadLetters.inc({ reason: 'invalid_json' });
    metrics.duplicates.inc();
    metrics.dropped.inc({ reason: 'spool_full' });
    metrics.ruleFirings.inc({ rule: 'cool' });
    metrics.commands.inc({ actuator: 'hvac' });
    metrics.alerts.inc({ severity: 'critical' });
    metrics.writeBatches.inc({ result: 'ok' }, 2);
    metrics.writeBatches.inc({ result: 'failed' });
    metrics.writeBatches.inc({ result: 'rejected' });
    metrics.pointsWritten.inc(5);

    const first = await nextPoint();
    expect(first).toMatchObject({ host: 'gw-test', timeMs: START + INTERVAL_MS, influxUp: true });
    expect(first.counts).toEqual({
      readings: 3,
      deadletters: 1,
      duplicates: 1,
      dropped: 1,
      rule_firings: 1,
      commands: 1,
      alerts: 1,
      write_batches: 2,
      write_failures: 2,
      points_written: 5,
      spool_events: 12,
      spool_bytes: 4096,
      clients: 3,
    });
    expect(first.measures).toMatchObject({ interval_s: 10, readings_per_s: 0.3, spool_oldest_age_s: 10 });

    metrics.countReading('humidity');
    metrics.countReading('temperature');
    const second = await nextPoint();
    expect(second.timeMs).toBe(START + 2 * INTERVAL_MS);
    expect(second.counts).toMatchObject({ readings: 2, deadletters: 0, duplicates: 0, dropped: 0, commands: 0, write_batches: 0, write_failures: 0, points_written: 0 });
    expect(second.measures).toMatchObject({ interval_s: 10, readings_per_s: 0.2 });
  });

  it('leaves write latency out of an interval with no write, rather than report 0', async () => {
    const { metrics, nextPoint } = await setup();
    const idle = await nextPoint();
    expect(idle.measures['write_latency_ms']).toBeUndefined();
    expect(idle.measures['write_latency_p95_ms']).toBeUndefined();

    metrics.writeLatency.observe(0.004);
    metrics.writeLatency.observe(0.02);
    const busy = await nextPoint();
    expect(busy.measures['write_latency_ms']).toBe(12);
    // A histogram knows the bucket, not the value: the p95 is the upper bound of its bucket.
    expect(busy.measures['write_latency_p95_ms']).toBe(25);

    expect((await nextPoint()).measures['write_latency_ms']).toBeUndefined();
  });

  it('gives up its own point when the store is full, and the next one covers both intervals once there is room', async () => {
    const { clock, store, lines, metrics, nextPoint } = await setup();
    store.full = true;
    metrics.countReading('temperature');
    const skipped = lines.length;
    clock.advanceTo(clock.nextDueAt()!);
    // The skip is logged, then the next timer is set: both positive signs the report ran.
    await expect.poll(() => lines.slice(skipped).find((l) => String(l.msg).startsWith('spool full: gateway_stats point skipped'))).toBeDefined();
    await drained();
    expect(clock.nextDueAt()).toBe(START + 2 * INTERVAL_MS);
    expect(store.kept).toEqual([]);

    store.full = false;
    metrics.countReading('temperature');
    const next = await nextPoint();
    // The reading of the skipped interval is not lost: the next point covers it too.
    expect(next).toMatchObject({ timeMs: START + 2 * INTERVAL_MS, counts: { readings: 2 } });
    expect(next.measures['interval_s']).toBe((2 * INTERVAL_MS) / 1000);
  });

  it('keeps a last point covering the time since the previous one when stopped, and sets no more timers', async () => {
    const { clock, metrics, store, spool, reporter } = await setup();
    clock.advanceBy(4_000);
    metrics.countReading('co2');
    spool.oldestAppendedAt = undefined;
    await reporter.stop();
    expect(store.events('stats')).toEqual([expect.objectContaining({ timeMs: START + 4_000, counts: expect.objectContaining({ readings: 1 }) })]);
    expect(store.events('stats')[0]?.measures).toMatchObject({ interval_s: 4, readings_per_s: 0.25, spool_oldest_age_s: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it('writes nothing with an interval of 0', async () => {
    const { clock, store, reporter } = await setup({ intervalMs: 0 });
    expect(clock.pendingTimers).toBe(0);
    await reporter.stop();
    expect(store.kept).toEqual([]);
  });
});
