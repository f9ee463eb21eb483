/** The benchmark report: one object, printed as a terminal table and written as Markdown. */
import type { ClusterMeasurement } from './cluster.js';
import type { ConfirmationBenchResult, RebuildBenchResult } from '../memory-bench.js';
import type { ConnectionsResult } from './connections.js';
import type { LatencyResult } from './latency.js';
import type { StagesResult } from './stages.js';
import type { LoadShape, Measurement } from './throughput.js';

export interface BenchReport {
  readonly date: string;
  readonly machine: string;
  readonly quick: boolean;
  readonly shape: LoadShape;
  readonly throughput: Measurement[];
  readonly ratios: Record<string, number>;
  readonly latency: LatencyResult[];
  readonly connections: ConnectionsResult[];
  /** Sections that failed, with why (the rest of the report stands). */
  readonly failures: string[];
  stages?: StagesResult;
  /** Issue 17's own method: `mosquitto_pub -l` publishers (bench/lib/outside.ts). */
  outside?: { readings: number; publishers: number; runs: Measurement[] };
  rules?: { shipped: { rules: number; eventsPerSecond: number }; many: { rules: number; eventsPerSecond: number }; ratio: number };
  /** `--cluster`: one plain gateway and clusters of 1, 2, 3 nodes, and what their cost projects. */
  cluster?: { runs: ClusterMeasurement[]; projections: Record<string, string> };
  memory?: { rebuild: RebuildBenchResult; confirmation: ConfirmationBenchResult };
}

const n = (v: number, digits = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–');
const mib = (bytes: number) => `${n(bytes / 2 ** 20, 1)} MiB`;

function rows(r: BenchReport): { title: string; head: string[]; body: string[][] }[] {
  const out: { title: string; head: string[]; body: string[][] }[] = [];
  const measured = (title: string, list: readonly Measurement[]) => ({
    title,
    head: ['run', 'rate', 'unit', 'seconds', 'loss', 'CPU % (server/bench/influxd)', 'server CPU µs/msg', 'note'],
    body: list.map((m) => [
      m.name,
      n(m.rate),
      m.unit,
      n(m.seconds, 2),
      m.loss === undefined ? '' : n(m.loss),
      m.cpu ? [m.cpu['server'], m.cpu['bench'], m.cpu['influxd']].map((x) => (x === undefined || Number.isNaN(x) ? '–' : String(x))).join('/') : '',
      m.serverUsPerMessage === undefined ? '' : n(m.serverUsPerMessage, 1),
      m.note ?? '',
    ]),
  });
  if (r.throughput.length) out.push(measured(`Throughput (${n(r.shape.readings)} readings from ${n(r.shape.devices)} devices${r.shape.bounded ? '' : ', unbounded burst'})`, r.throughput));
  if (r.outside) out.push(measured(`Outside, as issue 17 measured (${n(r.outside.readings)} readings from ${r.outside.publishers} mosquitto_pub -l publishers, one reading a write)`, r.outside.runs));
  if (Object.keys(r.ratios).length) out.push({ title: 'Ratios', head: ['ratio', 'value'], body: Object.entries(r.ratios).map(([k, v]) => [k, n(v, 2)]) });
  if (r.stages) {
    const { rows: stageRows, cpuRatios, readings } = r.stages;
    out.push({
      title: `Per-stage cost: CPU µs (user + system) per reading; stages alone in process (${n(readings)} readings a run), processes under the throughput load`,
      head: ['stage', 'µs/reading', 'runs', 'GC % of wall', 'bytes/reading', 'fired/sent/held per 1k', 'what'],
      body: stageRows.map((s) => [
        s.stage,
        n(s.us, 2),
        s.runs.map((x) => n(x, 2)).join(' '),
        s.gcShare === undefined ? '' : n(s.gcShare * 100, 0),
        s.bytesPerReading === undefined ? '' : n(s.bytesPerReading),
        s.rulesPer1000 ? [s.rulesPer1000.fired, s.rulesPer1000.outcomes, s.rulesPer1000.suppressed].map((x) => n(x)).join('/') : '',
        s.label,
      ]),
    });
    out.push({ title: 'CPU-time ratios (what the throughput ratio would be if each process were bound by one core)', head: ['ratio', 'value'], body: Object.entries(cpuRatios).map(([k, v]) => [k, n(v, 2)]) });
  }
  if (r.latency.length) {
    out.push({
      title: 'Latency: reading published → command received (ms)',
      head: ['readings/s', 'commanding', 'stuck # subscriber', 'probes', 'commands', 'p50', 'p99', 'p99.9', 'max', 'p99 until the rules made it', 'p99 made → received', 'loop lag p99', 'loop lag max', 'gateway CPU µs/reading', 'gateway CPU % of a core', 'GC % of time', 'GC pauses > 10 ms', 'bench loop lag p99', 'note'],
      body: r.latency.map((l) => [
        n(l.rate),
        `${n(l.commandShare * 100)}%`,
        l.stuckSubscriber ? 'yes' : 'no',
        n(l.sent),
        n(l.received),
        n(l.p50, 2),
        n(l.p99, 2),
        n(l.p999, 2),
        n(l.max, 2),
        n(l.p99UntilMadeMs ?? Number.NaN, 1),
        n(l.p99AfterMadeMs ?? Number.NaN, 1),
        n(l.eventLoopLagP99Ms ?? Number.NaN, 1),
        n(l.eventLoopLagMaxMs ?? Number.NaN, 1),
        n(l.gatewayCpuUsPerReading ?? Number.NaN, 1),
        n((l.gatewayCpuShare ?? Number.NaN) * 100),
        n((l.gcShare ?? Number.NaN) * 100, 1),
        n(l.gcPausesOver10Ms ?? Number.NaN),
        n(l.benchLagP99Ms ?? Number.NaN, 1),
        l.note ?? '',
      ]),
    });
  }
  if (r.connections.length) {
    out.push({
      title: 'Connections held at once',
      head: ['server', 'asked', 'connected', 'RSS before', 'RSS after', 'per connection', 'note'],
      body: r.connections.map((c) => [c.server, n(c.asked), n(c.connected), mib(c.rssBefore), mib(c.rssAfter), `${n(c.bytesPerConnection / 1024, 1)} KiB`, c.note ?? '']),
    });
  }
  if (r.memory !== undefined) {
    const { rebuild: b, confirmation: c } = r.memory;
    out.push({
      title: `Remembering: the rules' rebuild at start (${n(b.devices)} devices, ${n(b.rate)} readings/s), and confirmation tracking`,
      head: ['what', 'value', 'note'],
      body: [
        ['rebuild: seconds per hour of history kept', n(b.secondsPerHour, 2), `${n(b.readings)} readings over ${n(b.windowMinutes, 1)} min replayed in ${n(b.seconds, 2)} s (${n(b.readingsPerSecond)} readings/s)`],
        ['rebuild: of which reading InfluxDB', `${n(b.readSeconds, 2)} s`, 'a separate pass over the same window'],
        ['command to an actuator that does not report', `${n(c.untrackedUs, 1)} µs`, `rules runtime, no I/O, ${n(c.commands)} commands`],
        ['command to an actuator that confirms it', `${n(c.trackedUs, 1)} µs`, 'saga, timer, matching report, two saga steps'],
        ['confirmation tracking per command', `${n(c.overheadUs, 1)} µs`, 'readings that command nothing pay one Map lookup'],
      ],
    });
  }
  if (r.rules !== undefined) {
    const { shipped, many, ratio } = r.rules;
    out.push({
      title: 'Rules: readings/s through ingest and rules, same run',
      head: ['rule set', 'rules', 'readings/s'],
      body: [
        ['shipped packs', n(shipped.rules), n(shipped.eventsPerSecond)],
        ['a building’s 200', n(many.rules), n(many.eventsPerSecond)],
        ['ratio (≥ 0.5 wanted)', '', n(ratio, 2)],
      ],
    });
  }
  if (r.cluster) {
    out.push({
      title: 'Cluster: QoS 1 readings stored and (cluster) forwarded and ruled; CPU-seconds per 10,000 readings',
      head: ['run', 'readings/s', 'seconds', 'loss', 'gateways', 'Redis', 'influxd', 'servers', 'load generator', 'all processes'],
      body: r.cluster.runs.map((m) => [
        m.name,
        n(m.rate),
        n(m.seconds, 2),
        n(m.loss),
        n(m.cpuPer10k['gateways'] ?? Number.NaN, 2),
        n(m.cpuPer10k['redis'] ?? Number.NaN, 2),
        n(m.cpuPer10k['influxd'] ?? Number.NaN, 2),
        n(m.serverCpuPer10k, 2),
        n(m.cpuPer10k['load generator'] ?? Number.NaN, 2),
        n(m.totalCpuPer10k, 2),
      ]),
    });
    out.push({ title: 'Cluster: what the cost per reading projects', head: ['run', 'projection'], body: Object.entries(r.cluster.projections) });
  }
  if (r.failures.length) out.push({ title: 'Sections that failed', head: ['section', 'note'], body: r.failures.map((f) => [f.slice(0, f.indexOf(':')), f.slice(f.indexOf(':') + 2)]) });
  return out;
}

export function printTable(r: BenchReport): void {
  const w = (s: string) => process.stdout.write(s);
  w(`\n${r.date} — ${r.machine}${r.quick ? ' (quick)' : ''}\n`);
  for (const t of rows(r)) {
    const widths = t.head.map((h, i) => Math.max(h.length, ...t.body.map((b) => (b[i] ?? '').length)));
    // Names and prose left, figures right.
    const left = (i: number) => i === 0 || t.head[i] === 'what' || t.head[i] === 'note';
    const line = (cells: string[]) => `  ${cells.map((c, i) => (left(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`;
    w(`\n${t.title}\n${line(t.head)}${line(widths.map((x) => '-'.repeat(x)))}`);
    for (const b of t.body) w(line(b));
  }
}

export function formatMarkdown(r: BenchReport): string {
  let md = `# Benchmark ${r.date}\n\nMachine: ${r.machine}${r.quick ? ' (quick mode)' : ''}\n`;
  for (const t of rows(r)) {
    md += `\n## ${t.title}\n\n| ${t.head.join(' | ')} |\n| ${t.head.map(() => '---').join(' | ')} |\n`;
    for (const b of t.body) md += `| ${b.join(' | ')} |\n`;
  }
  return md;
}
