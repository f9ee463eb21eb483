import { hostname } from 'node:os';
import type { Counter, Histogram } from 'prom-client';
import type { Logger } from 'pino';
import type { Clock, ClockTimer } from '../core/clock.js';
import type { GatewayStatsEvent } from '../core/events.js';
import type { Store } from '../core/store.js';
import type { Metrics } from './metrics.js';

export interface StatsReporterOptions {
  readonly metrics: Metrics;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  /** Milliseconds between two `gateway_stats` points; 0 = never write them. */
  readonly intervalMs: number;
  readonly spool: () => { bytes: number; events: number; oldestAppendedAt: number | undefined };
  readonly connectedClients: () => number;
  readonly influxUp: () => boolean;
  /** The `host` tag (default: the machine's name), so several gateways can share one database. */
  readonly host?: string;
}

/** Totals read from the counters at one moment; a point holds the difference of two. */
interface Totals {
  readonly readings: number;
  readonly deadLetters: number;
  readonly duplicates: number;
  readonly dropped: number;
  readonly ruleFirings: number;
  readonly commands: number;
  readonly alerts: number;
  readonly batchesOk: number;
  readonly batchesFailed: number;
  readonly pointsWritten: number;
  readonly latencySum: number;
  readonly latencyCount: number;
  /** Cumulative count per bucket upper bound (seconds), `+Inf` last. */
  readonly latencyBuckets: ReadonlyMap<number, number>;
  readonly at: number;
}

/**
 * The gateway's own health as a `gateway_stats` point every STATS_INTERVAL_MS, through the spool
 * like every other event, so the *Gateway health* dashboard works from InfluxDB alone (no
 * Prometheus). Counts are per interval, so `sum()` over any window is exact.
 */
export class StatsReporter {
  private timer: ClockTimer | undefined;
  private previous: Totals | undefined;
  private running = false;
  private readonly host: string;

  constructor(private readonly o: StatsReporterOptions) {
    this.host = o.host ?? hostname();
  }

  async start(): Promise<void> {
    if (this.o.intervalMs <= 0) return;
    this.running = true;
    this.previous = await this.totals();
    this.schedule();
  }

  /** Writes a last point covering the time since the previous one, then stops. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    await this.report();
  }

  /** Appends one point now (also what the timer does); exposed for tests. */
  async report(): Promise<void> {
    const now = await this.totals();
    const before = this.previous;
    if (!before || now.at <= before.at) {
      this.previous = now;
      return;
    }
    // A full spool is about events; the gateway's own stats are the first thing to give up. The
    // interval is not lost: the next point covers it too.
    if (this.o.store.keep('stats', this.event(before, now))) this.previous = now;
    else this.o.log.debug('spool full: gateway_stats point skipped; the next one covers this interval too');
  }

  private schedule(): void {
    this.timer = this.o.clock.setTimeout(() => {
      this.report()
        .catch((err: unknown) => this.o.log.error({ err }, 'could not write gateway_stats'))
        .finally(() => {
          if (this.running) this.schedule();
        });
    }, this.o.intervalMs);
    this.timer.unref?.();
  }

  private event(a: Totals, b: Totals): GatewayStatsEvent {
    const seconds = (b.at - a.at) / 1000;
    const d = (key: Exclude<keyof Totals, 'latencyBuckets'>): number => Math.max(0, b[key] - a[key]);
    const writes = d('latencyCount');
    const spool = this.o.spool();
    return {
      host: this.host,
      timeMs: b.at,
      measures: {
        interval_s: seconds,
        readings_per_s: round(d('readings') / seconds),
        // No write in the interval: leave latency out rather than report a made-up 0.
        write_latency_ms: writes > 0 ? round((d('latencySum') / writes) * 1000) : undefined,
        write_latency_p95_ms: writes > 0 ? round(percentileUpperBound(a.latencyBuckets, b.latencyBuckets, 0.95) * 1000) : undefined,
        spool_oldest_age_s: spool.oldestAppendedAt === undefined ? 0 : round(Math.max(0, b.at - spool.oldestAppendedAt) / 1000),
      },
      counts: {
        readings: d('readings'),
        deadletters: d('deadLetters'),
        duplicates: d('duplicates'),
        dropped: d('dropped'),
        rule_firings: d('ruleFirings'),
        commands: d('commands'),
        alerts: d('alerts'),
        write_batches: d('batchesOk'),
        write_failures: d('batchesFailed'),
        points_written: d('pointsWritten'),
        spool_events: spool.events,
        spool_bytes: spool.bytes,
        clients: this.o.connectedClients(),
      },
      influxUp: this.o.influxUp(),
    };
  }

  private async totals(): Promise<Totals> {
    const m = this.o.metrics;
    const batches = await m.writeBatches.get();
    const latency = await histogram(m.writeLatency);
    return {
      readings: await sum(m.readings),
      deadLetters: await sum(m.deadLetters),
      duplicates: await sum(m.duplicates),
      dropped: await sum(m.dropped),
      ruleFirings: await sum(m.ruleFirings),
      commands: await sum(m.commands),
      alerts: await sum(m.alerts),
      batchesOk: batches.values.filter((v) => v.labels['result'] === 'ok').reduce((s, v) => s + v.value, 0),
      batchesFailed: batches.values.filter((v) => v.labels['result'] !== 'ok').reduce((s, v) => s + v.value, 0),
      pointsWritten: await sum(m.pointsWritten),
      ...latency,
      at: this.o.clock.now(),
    };
  }
}

async function sum<L extends string>(counter: Counter<L>): Promise<number> {
  return (await counter.get()).values.reduce((s, v) => s + v.value, 0);
}

async function histogram(h: Histogram): Promise<Pick<Totals, 'latencySum' | 'latencyCount' | 'latencyBuckets'>> {
  let latencySum = 0;
  let latencyCount = 0;
  const latencyBuckets = new Map<number, number>();
  for (const v of (await h.get()).values) {
    if (v.metricName?.endsWith('_sum')) latencySum = v.value;
    else if (v.metricName?.endsWith('_count')) latencyCount = v.value;
    else if (v.metricName?.endsWith('_bucket')) {
      const le = v.labels['le'];
      latencyBuckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v.value);
    }
  }
  return { latencySum, latencyCount, latencyBuckets };
}

/**
 * The upper bound of the bucket that holds the q-th quantile of the writes between two
 * snapshots (a histogram cannot say more). Beyond the last finite bucket, that bucket's bound.
 */
function percentileUpperBound(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>, q: number): number {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const total = (b.get(Number.POSITIVE_INFINITY) ?? 0) - (a.get(Number.POSITIVE_INFINITY) ?? 0);
  const finite = bounds.filter(Number.isFinite);
  for (const le of finite) {
    if ((b.get(le) ?? 0) - (a.get(le) ?? 0) >= q * total) return le;
  }
  return finite.at(-1) ?? 0;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
