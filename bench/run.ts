/**
 * npm run bench [-- --quick] [--only throughput,outside,stages,latency,connections,rules,memory] [--readings N] …
 * npm run bench -- --cluster     one plain gateway and clusters of 1, 2, 3 nodes (cost per reading)
 *
 * One run, its own InfluxDB, every figure side by side: bare Aedes and Mosquitto forwarding,
 * raw InfluxDB ingest, the gateway end to end (QoS 0, QoS 1 durable, QoS 1 without durable
 * acknowledgement), the per-stage CPU cost table, reading → command latency, connections and
 * memory, rules 200 vs 3, and what remembering costs (the rules' rebuild at start, confirmation
 * tracking per command).
 * Prints a table and writes JSON and Markdown under bench/results/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { startInfluxd } from '../gateway/storage/influxd.js';
import { measureConnections, type ConnectionsResult } from './lib/connections.js';
import { buildGateway } from './lib/processes.js';
import { measureClusterRun, projection, type ClusterMeasurement } from './lib/cluster.js';
import { measureLatency, medianRun, type LatencyResult } from './lib/latency.js';
import { medianBy } from './lib/median.js';
import { formatMarkdown, printTable, type BenchReport } from './lib/report.js';
import { runConfirmationBench, runRebuildBench } from './memory-bench.js';
import { runRulesBench } from './rules-bench.js';
import { buildStages, measureStages } from './lib/stages.js';
import { measureBareAedes, measureCeiling, measureGateway, measureMosquitto, reportInfluxCpu, type LoadShape, type Measurement } from './lib/throughput.js';
import { measureNativeGateway } from './lib/native.js';
import { OUTSIDE_PUBLISHERS, outsideClientsInstalled, outsideForwarding, outsideGateway } from './lib/outside.js';
import { startBareAedes } from './lib/processes.js';

const SECTIONS = ['throughput', 'outside', 'stages', 'latency', 'connections', 'rules', 'memory'] as const;
type Section = (typeof SECTIONS)[number];

const opts = new Command()
  .name('npm run bench --')
  .option('--quick', 'small sizes: the whole run in under a minute')
  .option('--only <sections>', `comma-separated: ${SECTIONS.join(', ')}`)
  .option('--readings <n>', 'readings per throughput run', Number)
  .option('--outside-readings <n>', 'readings per run of the outside section (10 mosquitto_pub publishers)', Number)
  .option('--devices <n>', 'simulated devices (one connection each)', Number)
  .option('--window <n>', 'publishes outstanding at once across the fleet', Number)
  .option('--unbounded', 'do not hold publishers back for the subscriber (a QoS 0 burst: shows queueing in front of a slow subscriber)')
  .option('--latency-seconds <n>', 'seconds at each latency rate', Number)
  .option('--rates <list>', 'latency runs as rate[:share of readings that command]; readings/s', '1000:0.1,5000:0.1,5000:1')
  .option('--connections <n>', 'devices connected at once', Number)
  .option('--repeat <n>', 'runs of each throughput and latency measurement (the median is reported: of the rate, of the p99)', Number)
  .option('--stage-readings <n>', 'readings per run of the per-stage table (its process runs use the throughput shape with at most this many)', Number)
  .option('--cluster', 'only the cluster comparison: one plain gateway, then clusters of 1, 2 and 3 nodes on one Redis (QoS 1)')
  .parse()
  .opts<{ outsideReadings?: number; cluster?: boolean; stageReadings?: number; repeat?: number; unbounded?: boolean; quick?: boolean; only?: string; readings?: number; devices?: number; window?: number; latencySeconds?: number; rates: string; connections?: number }>();

const quick = opts.quick === true;
const only = new Set<Section>((opts.only?.split(',') ?? (opts.cluster ? [] : [...SECTIONS])) as Section[]);
const shape: LoadShape = {
  readings: opts.readings ?? (quick ? 20_000 : 100_000),
  devices: opts.devices ?? (quick ? 50 : 100),
  window: opts.window ?? 2000,
  bounded: opts.unbounded !== true,
};
const latencySeconds = opts.latencySeconds ?? (quick ? 2 : 10);
const repeat = opts.repeat ?? (quick ? 1 : 3);
const connections = opts.connections ?? (quick ? 1000 : 10_000);
const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

progress('building the gateway (npm run build): the runs use what npm start runs');
await buildGateway();
if (only.has('stages')) await buildStages();
const influxDir = await mkdtemp(join(tmpdir(), 'gw-bench-influx-'));
const influx = await startInfluxd({ dataDir: influxDir });
reportInfluxCpu(influx.child.pid);
progress(`InfluxDB at ${influx.url}; ${shape.readings} readings from ${shape.devices} devices per run${quick ? ' (quick)' : ''}`);

const report: BenchReport = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  quick,
  shape,
  throughput: [],
  ratios: {},
  latency: [],
  connections: [],
  failures: [],
};

/** The median run of a measurement's runs (by rate), its note listing every run's rate. */
function medianOf(list: readonly Measurement[]): Measurement | undefined {
  const m = medianBy(list, (x) => x.rate);
  return m && list.length > 1 ? { ...m, note: [m.note, `median of ${list.length}: ${list.map((x) => Math.round(x.rate)).join(', ')}`].filter(Boolean).join('; ') } : m;
}

/** Each measurement `repeat` times, in rounds (A B C … A B C …) so a drift of the machine hits all alike. */
async function inRounds(plan: readonly (readonly [string, () => Promise<Measurement | undefined>])[]): Promise<Map<string, Measurement[]>> {
  const runs = new Map<string, Measurement[]>();
  for (let round = 1; round <= repeat; round++) {
    for (const [what, measure] of plan) {
      progress(`${what} (${round}/${repeat})`);
      const m = await measure();
      if (m) runs.set(what, [...(runs.get(what) ?? []), m]);
    }
  }
  return runs;
}

/** A section that fails (a process died, a timeout) is reported as such; the others still run and the report is written. */
async function section(name: Section, run: () => Promise<void>): Promise<void> {
  if (!only.has(name)) return;
  try {
    await run();
  } catch (err) {
    progress(`${name} failed: ${(err as Error).stack ?? String(err)}`);
    report.failures.push(`${name}: ${(err as Error).message}`);
  }
}

try {
  await section('throughput', async () => {
    // Each measurement `repeat` times, in rounds (A B C … A B C …) so a drift of the machine hits
    // all alike; the median run of each is reported, and ratios are of medians.
    const plan: [string, () => Promise<Measurement | undefined>][] = [
      ['bare Aedes', () => measureBareAedes(shape)],
      ['bare Aedes + deque', () => measureBareAedes(shape, true)],
      ['bare Aedes QoS 1', () => measureBareAedes(shape, false, 1)],
      ['Mosquitto', () => measureMosquitto(shape)],
      ['InfluxDB ceiling', () => measureCeiling(influx.url, shape)],
      ['gateway QoS 0', () => measureGateway(influx.url, shape, { qos: 0, label: 'gateway end to end, QoS 0' })],
      ['gateway QoS 1 durable', () => measureGateway(influx.url, shape, { qos: 1, label: 'gateway end to end, QoS 1, acknowledged when durable' })],
      ['gateway QoS 1 plain', () => measureGateway(influx.url, shape, { qos: 1, label: 'gateway end to end, QoS 1, DURABLE_ACK=false', env: { DURABLE_ACK: 'false' } })],
      ['gateway Zigbee2MQTT QoS 0', () => measureNativeGateway(influx.url, shape, influx.child.pid)],
    ];
    const runs = await inRounds(plan);
    const median = (what: string): Measurement | undefined => medianOf(runs.get(what) ?? []);
    for (const [what] of plan) {
      const m = median(what);
      if (m) report.throughput.push(m);
    }
    const [baseline, dequeBaseline, qos0, ceiling, durable, plain, baseline1] = ['bare Aedes', 'bare Aedes + deque', 'gateway QoS 0', 'InfluxDB ceiling', 'gateway QoS 1 durable', 'gateway QoS 1 plain', 'bare Aedes QoS 1'].map(median);
    if (baseline && qos0) report.ratios['gateway QoS 0 / bare Aedes'] = qos0.rate / baseline.rate;
    if (dequeBaseline && qos0) report.ratios['gateway QoS 0 / bare Aedes with the deque bus'] = qos0.rate / dequeBaseline.rate;
    if (ceiling && qos0) report.ratios['gateway QoS 0 / InfluxDB ceiling'] = qos0.rate / ceiling.rate;
    if (durable && plain) report.ratios['QoS 1 durable / QoS 1 plain'] = durable.rate / plain.rate;
    if (durable && baseline1) report.ratios['gateway QoS 1 durable / bare Aedes QoS 1'] = durable.rate / baseline1.rate;
    const native = median('gateway Zigbee2MQTT QoS 0');
    if (native && qos0) report.ratios['Zigbee2MQTT readings/s / contract readings/s (QoS 0; aim ≥ 0.8)'] = native.rate / qos0.rate;
  });
  await section('outside', async () => {
    if (!outsideClientsInstalled()) throw new Error('mosquitto_pub and mosquitto_sub are missing: bash scripts/setup.sh installs them (Debian mosquitto-clients)');
    const outsideShape = { readings: opts.outsideReadings ?? (quick ? 20_000 : 200_000) };
    progress(`outside: ${outsideShape.readings} readings from ${OUTSIDE_PUBLISHERS} mosquitto_pub publishers per run`);
    const forwarding = (deque: boolean, qos: 0 | 1, name: string) => async () => {
      const server = await startBareAedes(deque);
      try {
        return await outsideForwarding(server, name, outsideShape, qos);
      } finally {
        await server.stop();
      }
    };
    const plan = [
      ['outside: bare Aedes', forwarding(false, 0, 'bare Aedes → mosquitto_sub (QoS 0)')],
      ['outside: bare Aedes + deque', forwarding(true, 0, 'bare Aedes with the gateway’s deque bus → mosquitto_sub (QoS 0)')],
      ['outside: gateway QoS 0', () => outsideGateway(influx.url, 'gateway end to end, QoS 0, ruled (until stored)', outsideShape, 0)],
      ['outside: bare Aedes QoS 1', forwarding(false, 1, 'bare Aedes → mosquitto_sub (published at QoS 1)')],
      ['outside: gateway QoS 1 durable', () => outsideGateway(influx.url, 'gateway end to end, QoS 1 acknowledged when durable, ruled (until stored)', outsideShape, 1)],
    ] as const;
    const runs = await inRounds(plan);
    const [bare, deque, qos0, bare1, qos1] = plan.map(([what]) => medianOf(runs.get(what) ?? []));
    report.outside = { readings: outsideShape.readings, publishers: OUTSIDE_PUBLISHERS, runs: [bare, deque, qos0, bare1, qos1].filter((m): m is Measurement => m !== undefined) };
    if (bare && qos0) report.ratios['outside: gateway QoS 0 / bare Aedes'] = qos0.rate / bare.rate;
    if (deque && qos0) report.ratios['outside: gateway QoS 0 / bare Aedes with the deque bus'] = qos0.rate / deque.rate;
    if (bare1 && qos1) report.ratios['outside: gateway QoS 1 durable / bare Aedes QoS 1'] = qos1.rate / bare1.rate;
  });
  await section('stages', async () => {
    const stageShape = { ...shape, readings: Math.min(shape.readings, opts.stageReadings ?? (quick ? 10_000 : 50_000)) };
    report.stages = await measureStages({ influxUrl: influx.url, readings: opts.stageReadings ?? (quick ? 10_000 : 50_000), shape: stageShape, repeat, onProgress: progress });
  });
  await section('latency', async () => {
    // Issue 15: the first rate again, with a `#` subscriber that stopped reading connected throughout.
    const specs = [...opts.rates.split(',').map((spec) => ({ spec, stuck: false })), { spec: opts.rates.split(',')[0] ?? '', stuck: true }];
    // In rounds like the throughput runs, so a drift of the machine hits every rate alike.
    const runs = specs.map((): LatencyResult[] => []);
    for (let round = 1; round <= repeat; round++) {
      for (const [i, { spec, stuck }] of specs.entries()) {
        const [rate = 1000, share = 0.1] = spec.split(':').map(Number);
        progress(`latency at ${rate} readings/s, ${share * 100}% of them commanding${stuck ? ', with a stuck # subscriber' : ''}, for ${latencySeconds} s (${round}/${repeat})`);
        runs[i]!.push(await measureLatency(influx.url, rate, latencySeconds, share, 50, stuck));
      }
    }
    for (const list of runs) {
      const row = medianRun(list);
      if (row) report.latency.push(row);
    }
  });
  await section('connections', async () => {
    progress(`${connections} connections`);
    report.connections.push(...(await measureConnections(influx.url, connections)));
  });
  if (opts.cluster) {
    // Not one of the --only sections: --cluster runs it (with --only, those sections too).
    try {
      const runs: ClusterMeasurement[] = [];
      const clusterShape = { readings: opts.readings ?? (quick ? 20_000 : 60_000), devices: opts.devices ?? 96, window: opts.window ?? 2000 };
      // BENCH_BASELINE_ROOT=<another checkout, built>: its plain gateway too, before and after, for an A/B in the same run.
      const baselineRoot = process.env['BENCH_BASELINE_ROOT'];
      const plan: { nodes: number; baseline?: boolean }[] = [
        ...(baselineRoot ? [{ nodes: 0, baseline: true }] : []),
        { nodes: 0 },
        { nodes: 1 },
        { nodes: 2 },
        { nodes: 3 },
        ...(baselineRoot ? [{ nodes: 0, baseline: true }, { nodes: 0 }] : []),
      ];
      for (const { nodes, baseline } of plan) {
        progress(nodes === 0 ? `cluster comparison: one plain gateway${baseline ? ` (baseline ${baselineRoot})` : ''}` : `cluster comparison: ${nodes} node(s) + Redis`);
        runs.push(await measureClusterRun(influx.url, influx.child.pid, nodes, { ...clusterShape, ...(baseline ? { baselineRoot } : {}) }));
      }
      report.cluster = { runs, projections: Object.fromEntries(runs.map((m) => [m.name, projection(m, 2, [1, 3, 10])])) };
    } catch (err) {
      progress(`cluster failed: ${(err as Error).stack ?? String(err)}`);
      report.failures.push(`cluster: ${(err as Error).message}`);
    }
  }
  await section('rules', async () => {
    progress('rules: 200 rules against the 3 shipped packs');
    const result = await runRulesBench({ influxUrl: influx.url, readings: quick ? 5000 : 20_000, rounds: quick ? 1 : 3, onProgress: (l) => progress(`  ${l}`) });
    report.rules = { shipped: result.shipped, many: result.many, ratio: result.ratio };
  });
  await section('memory', async () => {
    progress('memory: the rules’ rebuild at start, and confirmation tracking per command');
    const rebuilt = await runRebuildBench({ influxUrl: influx.url, onProgress: (l) => progress(`  ${l}`) });
    const confirmation = await runConfirmationBench({ commands: quick ? 5000 : 20_000, rounds: quick ? 1 : 3 });
    report.memory = { rebuild: rebuilt, confirmation };
  });
} finally {
  await influx.stop();
  await rm(influxDir, { recursive: true, force: true });
}

printTable(report);
const dir = resolve(import.meta.dirname, 'results');
await mkdir(dir, { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
await writeFile(join(dir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(dir, `${stamp}.md`), formatMarkdown(report));
await writeFile(join(dir, 'latest.md'), formatMarkdown(report));
progress(`results in bench/results/${stamp}.{json,md} and bench/results/latest.md`);

export type { ConnectionsResult, LatencyResult };
