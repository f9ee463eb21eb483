/**
 * The per-stage cost table: CPU µs per reading for each stage of the gateway on its own
 * (bench/stages/worker.ts, one process per run, the ports it does not own faked), beside what
 * real processes spend under the same load as the throughput runs (CPU seconds from /proc ÷
 * messages): bare Aedes at QoS 0 and 1, the gateway's own broker with its hooks and nothing
 * behind them, and the whole gateway end to end. The gap between the sum of the stages and the
 * whole gateway is what the stages do not account for (Aedes and ingest working together,
 * GC pressure of the whole heap, timers, the event loop).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { StageJob, StageSample } from '../stages/worker.js';
import { FACT_PACKS, type FactPack } from '../stages/packs.js';
import { ROOT, stopChild, type Server } from './processes.js';
import { forwarding, measureBareAedes, measureGateway, type LoadShape, type Measurement } from './throughput.js';

export interface StageRow {
  /** Short name (the JSON's key). */
  readonly stage: string;
  readonly label: string;
  /** Median CPU time (user + system) per reading, µs. */
  readonly us: number;
  /** Every run's µs per reading, in order. */
  readonly runs: readonly number[];
  /** Share of the wall time of the median run spent in GC (in-process stages). */
  readonly gcShare?: number;
  readonly bytesPerReading?: number;
  /** How it was measured: in process (a stage alone) or from a real process under load. */
  readonly how: 'stage' | 'process' | 'derived';
  /** Rules stages, median run: firings, commands/alerts sent, and those suppressed or held back, per 1,000 readings. */
  readonly rulesPer1000?: { readonly fired: number; readonly outcomes: number; readonly suppressed: number };
}

export interface StagesResult {
  readonly readings: number;
  readonly rows: StageRow[];
  /** CPU-time ratios (bare Aedes µs ÷ gateway µs): what the throughput ratio would be if both were bound by one core. */
  readonly cpuRatios: Record<string, number>;
}

export interface StagesOptions {
  readonly influxUrl: string;
  /** Readings per in-process run. */
  readonly readings: number;
  /** The load of the process runs (the throughput section's shape, usually fewer readings). */
  readonly shape: LoadShape;
  readonly repeat: number;
  readonly onProgress?: (line: string) => void;
}

const tsx = () => process.env['BENCH_GATEWAY'] === 'tsx';

/** Compiles bench/stages with the gateway, as `npm run build` does (dist/), unless BENCH_GATEWAY=tsx. */
export async function buildStages(): Promise<void> {
  if (tsx()) return;
  const child = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'bench/stages/tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`compiling bench/stages failed (${code})`);
}

function workerArgs(job: StageJob, alloc: boolean): string[] {
  const flags = alloc ? ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256'] : [];
  const entry = tsx() ? ['--import', 'tsx', 'bench/stages/worker.ts'] : ['dist/bench/stages/worker.js'];
  return [...flags, ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean), ...entry, JSON.stringify(job), ...(alloc ? ['--alloc'] : [])];
}

async function runStage(job: StageJob, alloc = false): Promise<StageSample> {
  const child = spawn(process.execPath, workerArgs(job, alloc), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let last = '';
  createInterface({ input: child.stdout }).on('line', (l) => (last = l));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0 || !last) throw new Error(`stage ${job.stage} exited with ${code}`);
  return JSON.parse(last) as StageSample;
}

/** The gateway's broker (Aedes, access, publish pipeline) with nothing behind it, as a server. */
export async function startStageBroker(ack: Extract<StageJob, { stage: 'broker' }> = { stage: 'broker' }): Promise<Server> {
  const child = spawn(process.execPath, workerArgs(ack, false), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((res, rej) => {
    createInterface({ input: child.stdout }).once('line', (l) => res((JSON.parse(l) as { port: number }).port));
    child.once('exit', (c) => rej(new Error(`the stage broker exited with ${c}`)));
  });
  return { name: 'stage-broker', child, mqttPort: port, stop: () => stopChild(child) };
}

async function measureStageBroker(shape: LoadShape, qos: 0 | 1): Promise<Measurement> {
  const server = await startStageBroker();
  try {
    return await forwarding(server, `gateway broker alone (QoS ${qos})`, shape, qos);
  } finally {
    await server.stop();
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

export async function measureStages(o: StagesOptions): Promise<StagesResult> {
  const n = o.readings;
  const rulesDir = join(ROOT, 'rules');
  const inProcess: [string, string, StageJob][] = [
    ['ingest', 'ingest: topic, JSON + schema, envelope, dedupe, announce (store and bus listeners faked)', { stage: 'ingest', n }],
    ['ingest-qos1', 'ingest at QoS 1, durable: the same + waiting on the commit and the acknowledgement callback, as the publish pipeline does', { stage: 'ingest', n, qos: 1 }],
    ['listeners', 'bus listeners besides the rules: live view, silence watch', { stage: 'listeners', n }],
    ['spool-qos0', 'spool, QoS 0: point, journal append, one write per turn (100 readings a turn)', { stage: 'spool', n, qos: 0, perTurn: 100 }],
    ['spool-qos1', 'spool, QoS 1: the same + fdatasync per group, committed() per reading', { stage: 'spool', n, qos: 1, perTurn: 100 }],
    ['rules-shipped', 'rules: the 3 shipped packs (22 rules), the load’s mix of kinds', { stage: 'rules', n, rules: 'shipped', rulesDir }],
    ...(Object.entries(FACT_PACKS) as [FactPack, (typeof FACT_PACKS)[FactPack]][]).map(([key, pack]): [string, string, StageJob] => [`rules-${key}`, `rules: ${pack.label}, temperature readings${key === 'none' ? '' : ' firing nothing'}`, { stage: 'rules', n, rules: key, rulesDir }]),
    ['rules-commanding', 'rules: every reading commanding (shipped + probe pack, 10 readings a turn)', { stage: 'rules', n: Math.min(n, 20_000), rules: 'probe', rulesDir }],
    ['sink', 'sink: spool → InfluxDB line protocol over HTTP, 5,000 a batch', { stage: 'sink', n, influxUrl: o.influxUrl }],
  ];
  const samples = new Map<string, StageSample[]>();
  for (let round = 1; round <= o.repeat; round++) {
    for (const [key, , job] of inProcess) {
      o.onProgress?.(`stage ${key} (${round}/${o.repeat})`);
      // One failed run costs its row a sample, not the whole bench.
      const sample = await runStage(job).catch((err: unknown) => void o.onProgress?.(`  ${key}: ${(err as Error).message}`));
      if (sample) samples.set(key, [...(samples.get(key) ?? []), sample]);
    }
  }
  const rows: StageRow[] = [];
  for (const [key, label, job] of inProcess) {
    const list = samples.get(key) ?? [];
    const us = list.map((s) => (s.userUs + s.sysUs) / s.n);
    const mid = list[us.indexOf(median(us))];
    // One run with a young generation large enough that no GC runs: heap growth ÷ readings.
    o.onProgress?.(`stage ${key}: allocation`);
    const alloc = 'n' in job ? await runStage({ ...job, n: Math.min(job.n, 5000) }, true).catch(() => undefined) : undefined;
    const per1000 = mid?.rules ? { fired: (1000 * mid.rules.fired) / mid.n, outcomes: (1000 * mid.rules.outcomes) / mid.n, suppressed: (1000 * mid.rules.suppressed) / mid.n } : undefined;
    rows.push({ stage: key, label, us: median(us), runs: us, gcShare: mid ? mid.gcMs / mid.wallMs : undefined, bytesPerReading: alloc?.bytesPerReading, how: 'stage', rulesPer1000: per1000 });
  }

  const processes: [string, string, () => Promise<Measurement>][] = [
    ['bare-aedes-qos0', 'bare Aedes → 1 subscriber, QoS 0 (whole process)', () => measureBareAedes(o.shape, false, 0)],
    ['bare-aedes-qos1', 'bare Aedes → 1 subscriber, QoS 1 (whole process)', () => measureBareAedes(o.shape, false, 1)],
    ['broker-qos0', 'broker: the gateway’s Aedes + access + publish pipeline, nothing behind, QoS 0', () => measureStageBroker(o.shape, 0)],
    ['broker-qos1', 'broker: the same, QoS 1', () => measureStageBroker(o.shape, 1)],
    ['gateway-qos0', 'gateway end to end, QoS 0 (whole process, until stored)', () => measureGateway(o.influxUrl, o.shape, { qos: 0, label: 'gateway QoS 0' })],
    ['gateway-qos1', 'gateway end to end, QoS 1 durable (whole process, until stored)', () => measureGateway(o.influxUrl, o.shape, { qos: 1, label: 'gateway QoS 1 durable' })],
  ];
  const measured = new Map<string, number[]>();
  for (let round = 1; round <= o.repeat; round++) {
    for (const [key, , measure] of processes) {
      o.onProgress?.(`${key} (${round}/${o.repeat})`);
      const m = await measure().catch((err: unknown) => void o.onProgress?.(`  ${key}: ${(err as Error).message}`));
      if (!m) continue;
      if (m.serverUsPerMessage !== undefined && m.loss === 0) measured.set(key, [...(measured.get(key) ?? []), m.serverUsPerMessage]);
      else o.onProgress?.(`  ${key}: ${m.loss ?? '?'} lost, not counted`);
    }
  }
  for (const [key, label] of processes) {
    const runs = measured.get(key) ?? [];
    rows.push({ stage: key, label, us: median(runs), runs, how: 'process' });
  }

  const us = (key: string) => rows.find((r) => r.stage === key)?.us ?? Number.NaN;
  const sum0 = us('broker-qos0') + us('ingest') + us('listeners') + us('spool-qos0') + us('rules-shipped') + us('sink');
  const sum1 = us('broker-qos1') + us('ingest-qos1') + us('listeners') + us('spool-qos1') + us('rules-shipped') + us('sink');
  rows.push(
    { stage: 'sum-qos0', label: 'sum of the stages, QoS 0: broker + ingest + listeners + spool + shipped rules + sink', us: sum0, runs: [], how: 'derived' },
    { stage: 'unaccounted-qos0', label: 'gateway QoS 0 not accounted for by the stages (end to end − sum)', us: us('gateway-qos0') - sum0, runs: [], how: 'derived' },
    { stage: 'sum-qos1', label: 'sum of the stages, QoS 1 durable', us: sum1, runs: [], how: 'derived' },
    { stage: 'unaccounted-qos1', label: 'gateway QoS 1 durable not accounted for by the stages', us: us('gateway-qos1') - sum1, runs: [], how: 'derived' },
  );
  return {
    readings: n,
    rows,
    cpuRatios: {
      'bare Aedes QoS 0 µs ÷ gateway QoS 0 µs (target ≥ 0.8)': us('bare-aedes-qos0') / us('gateway-qos0'),
      'bare Aedes QoS 1 µs ÷ gateway QoS 1 durable µs (target ≥ 0.7)': us('bare-aedes-qos1') / us('gateway-qos1'),
    },
  };
}
