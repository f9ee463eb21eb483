import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { logError } from '../core/errors.js';
import { partitionOf } from '../core/partition.js';
import { LogLimiter } from '../observability/log.js';
import type { JournalCursor } from '../storage/journal.js';
import { routeOf } from '../storage/point-parse.js';
import { KEYS } from './redis-keys.js';

/** A partition's stream is capped at about this many entries, should nobody rule it for long. */
const STREAM_MAX_ENTRIES = 1_000_000;

const allPartitions = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export interface ForwarderOptions {
  readonly cursor: JournalCursor;
  readonly redis: Redis;
  readonly nodeId: string;
  readonly partitions: number;
  readonly log: Logger;
  readonly batchSize?: number;
  /**
   * Most bytes of spool kept for forwarding (SPOOL_MAX_BYTES): past it (Redis away for long) the
   * oldest are passed over — they are stored, and stale for the rules by then — so the disk stays bounded.
   */
  readonly maxBacklogBytes: number;
  readonly skipped?: (events: number) => void;
}

/**
 * Carries readings, armed zones, actuator reports and device statuses from this node's spool to
 * the rules: reads the journal in order as its second consumer (its own checkpoint), appends each
 * line to its site's partition stream (a status, which names no site: every partition's; `XADD`,
 * pipelined per batch), and confirms the batch only once Redis has all of it. A
 * crash or a Redis outage in between sends a batch again from the checkpoint (the owner drops
 * event ids it has ruled); nothing is forwarded out of order, nothing acknowledged is skipped.
 */
export class Forwarder {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readable = false;
  private failures = 0;
  /** Passing over readings is said once a minute at most. */
  private readonly skipLog: LogLimiter;
  private readonly stopSignal = new AbortController();
  forwarded = 0;

  constructor(private readonly o: ForwarderOptions) {
    this.skipLog = new LogLimiter(o.log, 1, 60_000);
  }

  /** False while Redis refuses or does not answer (what is not forwarded waits in the spool). */
  get healthy(): boolean {
    return this.failures === 0;
  }

  start(): void {
    this.o.cursor.onReadable(() => {
      this.readable = true;
      this.wake?.();
    });
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopSignal.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { cursor } = this.o;
    while (this.running) {
      this.readable = false;
      const batch = await cursor.take(this.o.batchSize ?? 5000).catch((err: unknown) => {
        this.o.log.error({ err }, 'the forwarder could not read the spool; retrying');
        return null;
      });
      if (batch === null) {
        await sleep(1000, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
        continue;
      }
      if (!batch) {
        if (!this.readable && this.running) await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      for (let attempt = 0; this.running; attempt++) {
        const crowding = cursor.crowdsDisk();
        if (crowding || cursor.stats().bytes > this.o.maxBacklogBytes) {
          if (this.skipLog.allow('forward skipped')) {
            const why = crowding ? 'the disk under the spool is full and only the forwarder still needs what InfluxDB already holds' : 'more than SPOOL_MAX_BYTES waits to be forwarded';
            logError(this.o.log, 'GW_ERR_REDIS_UNREACHABLE', { skipped: batch.count, waiting: cursor.stats().events }, `${why}: the oldest readings are stored but will not be ruled`);
          }
          this.o.skipped?.(batch.count);
          cursor.confirm(batch);
          break;
        }
        const problem = await this.send(batch.bodies, batch.appendedAts, batch.precision);
        if (problem === undefined) {
          if (this.failures > 0) this.o.log.info({ failures: this.failures }, 'forwarding to Redis again');
          this.failures = 0;
          cursor.confirm(batch);
          break;
        }
        this.failures++;
        if (this.failures === 1 || this.failures % 50 === 0) {
          logError(this.o.log, 'GW_ERR_REDIS_UNREACHABLE', { err: problem, failures: this.failures, waiting: cursor.stats().events }, 'cannot forward readings to Redis: they wait in the spool and are forwarded from there when Redis is back');
        }
        await sleep(backoffDelay(attempt, 100, 2000), undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
      }
    }
  }

  /** One pipeline for the batch; the problem if any command failed. */
  private async send(bodies: readonly Buffer[], appendedAts: readonly number[], precision: 'ns' | 'ms'): Promise<string | undefined> {
    const { redis, partitions, nodeId } = this.o;
    const pipeline = redis.pipeline();
    let n = 0;
    let events = 0;
    let everyPartition: readonly number[] | undefined;
    const add = (p: number, line: string, at: string): void => {
      // `p`: the line's time is in ms (a record an older version left); absent, in ns.
      if (precision === 'ms') pipeline.xadd(KEYS.stream(p), 'MAXLEN', '~', STREAM_MAX_ENTRIES, '*', 'l', line, 'a', at, 'n', nodeId, 'p', 'ms');
      else pipeline.xadd(KEYS.stream(p), 'MAXLEN', '~', STREAM_MAX_ENTRIES, '*', 'l', line, 'a', at, 'n', nodeId);
      n++;
    };
    bodies.forEach((body, i) => {
      const at = String(appendedAts[i] ?? Date.now());
      for (const line of body.toString('utf8').split('\n')) {
        if (line === '') continue;
        const route = routeOf(line);
        if (!route) continue;
        // A device's status names no site: every partition gets it, in its place among this node's
        // readings (statuses are rare; an owner whose sites never saw the device ignores it).
        events++;
        if (route.site !== undefined) {
          add(partitionOf(route.site, partitions), line, at);
          continue;
        }
        for (const p of (everyPartition ??= allPartitions(partitions))) add(p, line, at);
      }
    });
    if (n === 0) return undefined;
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed) return (failed[0] as Error).message;
      this.forwarded += events;
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }
}
