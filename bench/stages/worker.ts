/**
 * One stage of the gateway on its own, in its own process, for the per-stage cost table
 * (bench/lib/stages.ts runs it, compiled as `npm start` runs the gateway). The ports a stage
 * does not own are faked: a store that keeps nothing, a publisher that sends nothing, a bus
 * with only the listeners the stage is. Prints one JSON line: CPU time (user + system, from
 * process.cpuUsage) over N prebuilt readings after a warm-up, GC time, and — run with
 * `--expose-gc --max-semi-space-size=…` and `alloc` — the bytes allocated per reading.
 *
 * `--profile=<file>` writes a V8 CPU profile of the timed pass alone.
 *
 * `broker` serves instead: the gateway's Aedes with its access and publish pipeline, handing
 * every publish to a target that does nothing; prints {"port"} and runs until SIGTERM.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import { pino } from 'pino';
import { Access } from '../../gateway/broker/access.js';
import { MqttBroker } from '../../gateway/broker/broker.js';
import { CredentialStore } from '../../gateway/broker/credentials.js';
import { callAll, PublishPipeline, type AckCallback, type IncomingPublish } from '../../gateway/broker/publish-pipeline.js';
import { WaitBatches } from '../../gateway/core/wait-batches.js';
import { EventBus } from '../../gateway/core/bus.js';
import { systemClock } from '../../gateway/core/clock.js';
import type { ReadingEvent } from '../../gateway/core/events.js';
import type { Publisher } from '../../gateway/core/publisher.js';
import type { Store } from '../../gateway/core/store.js';
import { LiveView } from '../../gateway/http/live.js';
import { Ingest } from '../../gateway/ingest/ingest.js';
import { SilenceWatch } from '../../gateway/ingest/silence.js';
import { Metrics } from '../../gateway/observability/metrics.js';
import { RulesService } from '../../gateway/rules/service.js';
import { EventStore } from '../../gateway/storage/event-store.js';
import { Influx1Writer } from '../../gateway/storage/influx1.js';
import { Journal } from '../../gateway/storage/journal.js';
import { InfluxSink } from '../../gateway/storage/sink.js';
import { FACT_PACKS, PROBE_PACK, SHIPPED_PACKS, type FactPack } from './packs.js';
import { mixPackets, probeReadings, temperatureReadings } from './readings.js';

export type StageJob =
  | { readonly stage: 'ingest'; readonly n: number; readonly qos?: 0 | 1 }
  | { readonly stage: 'listeners'; readonly n: number }
  | { readonly stage: 'spool'; readonly n: number; readonly qos: 0 | 1; readonly perTurn: number }
  | { readonly stage: 'rules'; readonly n: number; readonly rules: 'shipped' | 'probe' | FactPack; readonly rulesDir: string }
  | { readonly stage: 'sink'; readonly n: number; readonly influxUrl: string }
  /** `ack`: what the target hands back for QoS 1 (none: acknowledged at once; resolved: a settled promise; turn: after a setImmediate; sync: after an fdatasync-sized pause of `ms`). */
  | { readonly stage: 'broker'; readonly ack?: 'none' | 'resolved' | 'turn' | 'sleep'; readonly ms?: number };

export interface StageSample {
  readonly n: number;
  readonly userUs: number;
  readonly sysUs: number;
  readonly wallMs: number;
  readonly gcMs: number;
  readonly gcCount: number;
  /** Heap growth ÷ n, with no GC during the pass (alloc runs only; undefined if a GC ran). */
  readonly bytesPerReading?: number;
  /** Rules stages: over the timed pass, rule firings, and commands and alerts that went out or were held back/suppressed. */
  readonly rules?: { readonly fired: number; readonly outcomes: number; readonly suppressed: number };
}

const log = pino({ level: 'silent' });
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A store that keeps nothing (the lab sandbox's): the spool is a stage of its own. */
const discard: Store = { keep: () => true, committed: () => Promise.resolve(), written: () => Promise.resolve(), whenSpace: () => Promise.resolve(), isFull: () => false, isOpen: true };
const nowhere: Publisher = { publish: () => Promise.resolve() };
const metricsFor = () => new Metrics({ spool: () => ({ bytes: 0, events: 0, oldestAppendedAt: undefined }), connectedClients: () => 0, influxUp: () => true, now: () => Date.now() });

/** What a timed pass runs: `step(from, to)` handles items [from, to) and may return a promise to wait on. */
interface Pass {
  readonly warm: number;
  readonly n: number;
  /** Items per event-loop turn (a socket read's worth). */
  readonly perTurn: number;
  step(from: number, to: number): Promise<void> | void;
  /** After the last item: wait until its work is done (inside the timing). */
  drain?(): Promise<void>;
  /** After timing: release files and timers (untimed). */
  close?(): Promise<void>;
  /** Counts read before and after the timed pass (rules: firings, outcomes). */
  counts?(): Promise<{ fired: number; outcomes: number; suppressed: number }>;
}

/** `--profile=<file>`: a V8 CPU profile of the timed pass only (scripts/profile-summary.mjs reads it). */
const profileTo = process.argv.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);

async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

async function runPass(p: Pass, alloc: boolean): Promise<StageSample> {
  const feed = async (from: number, to: number) => {
    for (let i = from; i < to; i += p.perTurn) {
      await p.step(i, Math.min(to, i + p.perTurn));
      await turn();
    }
    await p.drain?.();
  };
  await feed(0, p.warm);
  let gcMs = 0;
  let gcCount = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcCount++;
    }
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  if (alloc && gc) {
    gc();
    // The forced collection's entry arrives later: let it pass before counting.
    await turn();
  }
  observer.observe({ entryTypes: ['gc'] });
  const countsBefore = await p.counts?.();
  const profiler = profileTo ? await startProfile() : undefined;
  const heapBefore = process.memoryUsage().heapUsed;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await feed(p.warm, p.warm + p.n);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (profiler && profileTo) await profiler.stop(profileTo);
  const heapAfter = process.memoryUsage().heapUsed;
  await turn();
  observer.disconnect();
  const bytesPerReading = alloc && gcCount === 0 ? (heapAfter - heapBefore) / p.n : undefined;
  const countsAfter = await p.counts?.();
  await p.close?.();
  const rules =
    countsBefore && countsAfter
      ? { fired: countsAfter.fired - countsBefore.fired, outcomes: countsAfter.outcomes - countsBefore.outcomes, suppressed: countsAfter.suppressed - countsBefore.suppressed }
      : undefined;
  return { n: p.n, userUs: used.user, sysUs: used.system, wallMs, gcMs, gcCount, bytesPerReading, rules };
}

/** Untimed first: the JIT, and the rules' engines compiled lazily per route and mask, settle in the first ~20,000. */
const warmOf = (n: number) => Math.max(20_000, Math.round(n / 2));

/**
 * Ingest as the publish pipeline drives it. At QoS 1 (durable acknowledgement) the store's
 * `committed()` is one promise per turn, as the group commit's, resolved at the turn's end, and
 * each publish's acknowledgement waits on what ingest hands back, as `PublishPipeline` does.
 */
async function ingestPass(n: number, qos: 0 | 1): Promise<Pass> {
  const warm = warmOf(n);
  const packets = mixPackets(warm + n, qos);
  let group: { promise: Promise<void>; resolve: () => void } | undefined;
  const store: Store =
    qos === 0
      ? discard
      : {
          ...discard,
          committed: () => {
            if (!group) {
              let resolve!: () => void;
              const promise = new Promise<void>((r) => (resolve = r));
              group = { promise, resolve };
            }
            return group.promise;
          },
        };
  const ingest = new Ingest({ store, bus: new EventBus(log), metrics: metricsFor(), publisher: nowhere, clock: systemClock, log, maxPayloadBytes: 65536, staleAfterMs: 300_000, durableAck: true });
  let acknowledged = 0;
  const callback = (err: Error | null) => void (err ? undefined : acknowledged++);
  // As the publish pipeline waits: one reaction per commit group.
  const acks = new WaitBatches<AckCallback>(callAll);
  return {
    warm,
    n,
    perTurn: 100,
    step(from, to) {
      for (let i = from; i < to; i++) {
        const pending = ingest.handle('st', packets[i]!);
        if (pending) acks.add(pending, callback);
        else callback(null);
      }
      const done = group;
      group = undefined;
      done?.resolve();
      return done?.promise;
    },
  };
}

/** The readings ingest would announce for these packets (untimed). */
function announced(packets: readonly IncomingPublish[]): ReadingEvent[] {
  const bus = new EventBus(log);
  const out: ReadingEvent[] = [];
  bus.on('reading', (r) => void out.push(r));
  const ingest = new Ingest({ store: discard, bus, metrics: metricsFor(), publisher: nowhere, clock: systemClock, log, maxPayloadBytes: 65536, staleAfterMs: 300_000, durableAck: false });
  for (const p of packets) void ingest.handle('st', p);
  return out;
}

/** The bus's other listeners in the gateway: the live view and the silence watch. */
function listenersPass(n: number): Pass {
  const warm = warmOf(n);
  const readings = announced(mixPackets(warm + n));
  const bus = new EventBus(log);
  const metrics = metricsFor();
  new LiveView({ bus, clock: systemClock, log, metrics, pushMs: 250 }).start();
  new SilenceWatch({ bus, store: discard, clock: systemClock, log, offlineAfterMs: 300_000 }).start();
  return {
    warm: Math.min(warm, readings.length - n),
    n: Math.min(n, readings.length),
    perTurn: 100,
    step(from, to) {
      for (let i = from; i < to; i++) bus.emit('reading', readings[i]!);
    },
  };
}

/** The store port on a real journal (point, append, group write; fdatasync per group at QoS 1), its records confirmed as a sink would. */
async function spoolPass(n: number, qos: 0 | 1, perTurn: number, dir: string): Promise<Pass> {
  const warm = warmOf(n);
  const readings = announced(mixPackets(warm + n));
  const journal = new Journal({ dir, maxBytes: 2 ** 31, log });
  await journal.open();
  const store = new EventStore(journal);
  journal.onReadable(() => void consume());
  let consuming = false;
  const consume = async () => {
    if (consuming) return;
    consuming = true;
    for (let batch = await journal.take(5000); batch; batch = await journal.take(5000)) journal.confirm(batch);
    consuming = false;
  };
  let last: Promise<void> = Promise.resolve();
  return {
    warm,
    n,
    perTurn,
    step(from, to) {
      for (let i = from; i < to; i++) {
        store.keep('reading', readings[i]!);
        // Ingest asks for the commit once per QoS 1 reading; the last one is awaited.
        if (qos === 1) last = store.committed();
      }
      return qos === 1 ? last : undefined;
    },
    drain: () => journal.committed(),
    close: async () => {
      while (consuming) await turn();
      await journal.close();
    },
  };
}

/** The rules service (runtime, engine, actions) fed by the bus; `shippedDir` holds the shipped packs, copied to `dir`. */
async function rulesPass(n: number, rules: 'shipped' | 'probe' | FactPack, shippedDir: string, rulesDir: string): Promise<Pass> {
  const warm = warmOf(n);
  for (const f of SHIPPED_PACKS) await copyFile(join(shippedDir, f), join(rulesDir, f));
  let files: string[];
  let readings: ReadingEvent[];
  if (rules === 'shipped') {
    files = [...SHIPPED_PACKS];
    readings = announced(mixPackets(warm + n));
  } else if (rules === 'probe') {
    await writeFile(join(rulesDir, 'probe.json'), JSON.stringify(PROBE_PACK));
    files = [...SHIPPED_PACKS, 'probe.json'];
    readings = probeReadings(warm + n);
  } else {
    const pack = FACT_PACKS[rules];
    await writeFile(join(rulesDir, `${rules}.json`), JSON.stringify({ name: rules, rules: pack.rules }));
    files = [`${rules}.json`];
    readings = temperatureReadings(warm + n);
  }
  const bus = new EventBus(log);
  const metrics = metricsFor();
  const service = new RulesService({ bus, publisher: nowhere, store: discard, metrics, log, clock: systemClock, rulesDir, ruleFiles: files, watchRules: false });
  const total = async (name: string) => (await metrics.registry.getSingleMetric(name)?.get())?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  await service.start();
  if (service.loader.problems.size > 0) throw new Error([...service.loader.problems.values()].join('; '));
  return {
    warm: Math.min(warm, readings.length - n),
    n: Math.min(n, readings.length),
    // The latency bench's pace at 5,000/s is a few readings a turn; a flat-out load, ~100.
    perTurn: rules === 'probe' ? 10 : 100,
    step(from, to) {
      for (let i = from; i < to; i++) bus.emit('reading', readings[i]!);
      return service.idle();
    },
    counts: async () => ({
      fired: await total('gateway_rule_firings_total'),
      outcomes: (await total('gateway_commands_total')) + (await total('gateway_alerts_total')),
      suppressed: (await total('gateway_commands_suppressed_total')) + (await total('gateway_commands_deferred_total')),
    }),
  };
}

/** The sink timed on its own: fill untimed, then time the drain. */
async function runSink(n: number, influxUrl: string, dir: string, alloc: boolean): Promise<StageSample> {
  const warm = warmOf(n);
  const readings = announced(mixPackets(warm + n));
  const journal = new Journal({ dir, maxBytes: 2 ** 31, log });
  await journal.open();
  const store = new EventStore(journal);
  const db = `bench_stage_sink_${process.pid}`;
  const fill = async (from: number, to: number) => {
    for (let i = from; i < to; i += 1000) {
      for (let j = i; j < Math.min(to, i + 1000); j++) store.keep('reading', readings[j]!);
      await journal.committed();
    }
  };
  const drain = async (): Promise<void> => {
    const sink = new InfluxSink({ journal, writer: new Influx1Writer(influxUrl, db, 30_000), metrics: metricsFor(), log, batchSize: 5000, flushMs: 100, onRejected: () => undefined });
    await sink.start();
    while (journal.stats().events > 0) await new Promise((r) => setTimeout(r, 5));
    await sink.stop();
  };
  await fill(0, warm);
  await drain();
  await fill(warm, warm + n);
  return runPass({ warm: 0, n, perTurn: n, step: () => drain() }, alloc).finally(() => journal.close());
}

/** What the broker's target hands back for a QoS 1 publish: stands in for ingest + group commit. */
function ackOf(job: Extract<StageJob, { stage: 'broker' }>): (qos: number) => Promise<void> | undefined {
  if (job.ack === 'resolved') return (qos) => (qos > 0 ? Promise.resolve() : undefined);
  if (job.ack === 'turn') return (qos) => (qos > 0 ? turn() : undefined);
  if (job.ack === 'sleep') {
    // One shared "group" per pause, as the group commit shares one promise per write.
    let group: Promise<void> | undefined;
    return (qos) => {
      if (qos === 0) return undefined;
      group ??= new Promise<void>((resolve) => setTimeout(() => ((group = undefined), resolve()), job.ms ?? 2));
      return group;
    };
  }
  return () => undefined;
}

async function serveBroker(job: Extract<StageJob, { stage: 'broker' }>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-stage-broker-'));
  const metrics = metricsFor();
  const access = new Access({
    store: new CredentialStore(join(dir, 'credentials.json'), log),
    metrics,
    log,
    allowAnonymous: 'true',
    anonymousRole: 'admin',
    bindHost: '127.0.0.1',
    maxConnections: 0,
    maxPacketBytes: 262_144,
    topics: { maxLength: 512, maxLevels: 8 },
    publishRate: 0,
    publishBurst: 2000,
    loginBackoffAfter: 5,
    loginBackoffMaxMs: 300_000,
  });
  await access.start();
  const pipeline = new PublishPipeline(access);
  const broker = new MqttBroker({ log, host: access.host, mqttPort: 0, wsPort: 0, guard: access, hooks: { ...access.hooks, authorizePublish: pipeline.authorizePublish } });
  access.observe(broker.aedes);
  const ack = ackOf(job);
  pipeline.deliverTo({ handle: (_client, packet) => ack(packet.qos) });
  const ports = await broker.start();
  process.stdout.write(`${JSON.stringify({ port: ports.mqtt })}\n`);
  process.once('SIGTERM', () => {
    void broker.stop().then(() => rm(dir, { recursive: true, force: true })).then(() => process.exit(0));
  });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as StageJob;
  const alloc = process.argv.includes('--alloc');
  if (job.stage === 'broker') return serveBroker(job);
  const dir = await mkdtemp(join(tmpdir(), 'gw-stage-'));
  try {
    let sample: StageSample;
    switch (job.stage) {
      case 'ingest':
        sample = await runPass(await ingestPass(job.n, job.qos ?? 0), alloc);
        break;
      case 'listeners':
        sample = await runPass(listenersPass(job.n), alloc);
        break;
      case 'spool':
        sample = await runPass(await spoolPass(job.n, job.qos, job.perTurn, dir), alloc);
        break;
      case 'rules':
        sample = await runPass(await rulesPass(job.n, job.rules, job.rulesDir, dir), alloc);
        break;
      case 'sink':
        sample = await runSink(job.n, job.influxUrl, dir, alloc);
        break;
    }
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  }
  // Timers of the stage (live view pushes, watches) must not hold the process.
  process.exit(0);
}

await main();
