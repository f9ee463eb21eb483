/**
 * In-memory fakes of the gateway's ports, for unit tests on the ManualClock: a Store that
 * records what it is given and whose durability, room and shutdown the test decides, and a
 * Publisher that records what it would send. Everything else in a unit test is real (EventBus,
 * Metrics, the component under test).
 */
import { pino, type Logger } from 'pino';
import type { Clock } from '../../gateway/core/clock.js';
import type { Publisher } from '../../gateway/core/publisher.js';
import type { StorableEvents, StorableName, Store } from '../../gateway/core/store.js';
import { Metrics } from '../../gateway/observability/metrics.js';
import { deferred, type Deferred } from './deferred.js';

export interface Kept<K extends StorableName = StorableName> {
  readonly name: K;
  readonly event: StorableEvents[K];
  readonly always: boolean;
}

/**
 * A Store that keeps events in a list. `full` refuses what is not `always` kept; `committed()`
 * resolves only when the test calls `commit()`, `whenSpace()` only on `makeRoom()` or `close()`.
 */
export class RecordingStore implements Store {
  readonly kept: Kept[] = [];
  full = false;
  private open = true;
  private commits: Deferred[] = [];
  private spaceWaiters: Deferred[] = [];
  private keptWaiters: { name: StorableName; resolve: (k: Kept) => void }[] = [];
  /** Throws this instead of keeping an event of that name (a bug in storage, for ingest's safety net). */
  throwOn: { name: StorableName; error: Error } | undefined;

  keep<K extends StorableName>(name: K, event: StorableEvents[K], always = false): boolean {
    if (this.throwOn?.name === name) throw this.throwOn.error;
    if (!this.open || (this.full && !always)) return false;
    const kept: Kept = { name, event, always };
    this.kept.push(kept);
    for (const w of this.keptWaiters.filter((x) => x.name === name)) w.resolve(kept);
    this.keptWaiters = this.keptWaiters.filter((x) => x.name !== name);
    return true;
  }

  committed(): Promise<void> {
    const d = deferred();
    this.commits.push(d);
    return d.promise;
  }

  /** The test's `commit()` stands for both: written and synced. */
  written(): Promise<void> {
    return this.committed();
  }

  whenSpace(): Promise<void> {
    const d = deferred();
    this.spaceWaiters.push(d);
    return d.promise;
  }

  isFull(): boolean {
    return this.full;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** How many `committed()` calls wait. */
  get waitingCommits(): number {
    return this.commits.length;
  }

  /** How many `whenSpace()` calls wait. */
  get waitingForSpace(): number {
    return this.spaceWaiters.length;
  }

  /** Everything kept so far is durable: resolves every `committed()` promise given out. */
  commit(): void {
    for (const d of this.commits.splice(0)) d.resolve();
  }

  /** Room again (`full` off unless `stillFull`): resolves every `whenSpace()` promise given out. */
  makeRoom(stillFull = false): void {
    this.full = stillFull;
    for (const d of this.spaceWaiters.splice(0)) d.resolve();
  }

  /** The store closes (the gateway is stopping): refuses everything, wakes whoever waits for room. */
  close(): void {
    this.open = false;
    for (const d of this.spaceWaiters.splice(0)) d.resolve();
  }

  /** The events of one name kept so far, in order. */
  events<K extends StorableName>(name: K): StorableEvents[K][] {
    return this.kept.filter((k): k is Kept<K> => k.name === name).map((k) => k.event);
  }

  /** Resolves with the next event of that name the store keeps. */
  next<K extends StorableName>(name: K): Promise<Kept<K>> {
    return new Promise((resolve) => this.keptWaiters.push({ name, resolve: resolve as (k: Kept) => void }));
  }
}

export interface Published {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1;
}

/** A Publisher that records what the gateway would publish. */
export class RecordingPublisher implements Publisher {
  readonly published: Published[] = [];

  publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    this.published.push({ topic, payload, qos });
    return Promise.resolve();
  }

  /** The JSON payloads published on topics that start with `prefix`. */
  json(prefix: string): Record<string, unknown>[] {
    return this.published.filter((p) => p.topic.startsWith(prefix)).map((p) => JSON.parse(p.payload) as Record<string, unknown>);
  }
}

export const silentLog = (): Logger => pino({ level: 'silent' });

/** The gateway's real metrics, with empty sources on the given clock. */
export function testMetrics(clock: Clock): Metrics {
  return new Metrics({ spool: () => ({ bytes: 0, events: 0, oldestAppendedAt: undefined }), connectedClients: () => 0, influxUp: () => true, now: () => clock.now() });
}

/** A counter's value for one label set (or summed over all when `labels` is absent). */
export async function count(metrics: Metrics, name: string, labels?: Readonly<Record<string, string>>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => !labels || Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}

/**
 * Resolves once every promise job already queued has run (one turn of the event loop, no time
 * passing): what a promise that is still pending after it waits on something the test holds.
 */
export function drained(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether a promise has settled, once the jobs already queued have run. */
export async function stateOf(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await drained();
  return state;
}
