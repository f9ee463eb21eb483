/**
 * Latency: a reading published → the command it causes received by an actuator client, at a
 * fixed total rate of readings. The gateway runs the shipped packs plus one probe pack: in site
 * `lat`, above 30 °C switches a `probe` actuator on and below 23 °C off (no minimum on/off
 * time), so probe readings alternating 31 °C / 22 °C each yield a command, after running through
 * every shipped temperature rule too. The other readings are ordinary (25 °C, in the band: they
 * run the HVAC rules and fire nothing) in other zones.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { generate } from 'mqtt-packet';
import { PROBE_PACK } from '../stages/packs.js';
import { cpuSeconds } from './cpu.js';
import { medianBy } from './median.js';
import { ROOT, startGatewayProcess } from './processes.js';

export interface LatencyResult {
  readonly rate: number;
  /** Share of the readings that command something. */
  readonly commandShare: number;
  readonly seconds: number;
  /** A `#` subscriber that stopped reading was connected throughout (issue 15: commands must not wait behind it). */
  readonly stuckSubscriber?: boolean;
  readonly sent: number;
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /**
   * p99 of each half of a command's time, split where the gateway's rules made it (the command's
   * own `time`: ms precision, so ±1 ms): reading published → command made, and made → received.
   */
  readonly p99UntilMadeMs?: number;
  readonly p99AfterMadeMs?: number;
  /** The gateway's own view at the end of the run (prom-client default metrics). */
  readonly eventLoopLagP99Ms?: number;
  readonly eventLoopLagMaxMs?: number;
  /** The gateway's GC pauses over the measured phase: their share of its time, and how many lasted over 10 ms (prom-client's GC histogram). */
  readonly gcShare?: number;
  /** The bench's own event loop (publishers and the actuator share it) over the measured phase: a late tick sends a burst, a late turn stamps a command late. */
  readonly benchLagP99Ms?: number;
  readonly gcPausesOver10Ms?: number;
  /** The gateway's CPU (user + system) over the measured phase ÷ readings sent in it, and its share of one core. */
  readonly gatewayCpuUsPerReading?: number;
  readonly gatewayCpuShare?: number;
  /** Set when the run went wrong (the gateway exited under the load). */
  readonly note?: string;
}

/** What the gateway's GC histogram holds so far: seconds paused, and pauses over 10 ms (every kind of collection). */
interface GcSoFar {
  readonly seconds: number;
  readonly over10Ms: number;
}

function gcSoFar(metrics: string): GcSoFar {
  let seconds = 0;
  let over10Ms = 0;
  for (const [, value] of metrics.matchAll(/^gateway_nodejs_gc_duration_seconds_sum\{[^}]*\} ([\d.e+-]+)$/gm)) seconds += Number(value);
  for (const [, value] of metrics.matchAll(/^gateway_nodejs_gc_duration_seconds_count\{[^}]*\} ([\d.e+-]+)$/gm)) over10Ms += Number(value);
  for (const [, value] of metrics.matchAll(/^gateway_nodejs_gc_duration_seconds_bucket\{le="0\.01"[^}]*\} ([\d.e+-]+)$/gm)) over10Ms -= Number(value);
  return { seconds, over10Ms };
}

async function gatewayGc(httpPort: number | undefined): Promise<GcSoFar | undefined> {
  if (!httpPort) return undefined;
  return fetch(`http://127.0.0.1:${httpPort}/metrics`)
    .then(async (res) => gcSoFar(await res.text()))
    .catch(() => undefined);
}

/**
 * Several runs of one latency measurement as one row: the run with the median p99 (the tail is
 * what the target reads, and it moves 2–4× between runs of the same build on this machine), its
 * note naming every run's p99 so the spread shows. Ties and even counts take the lower middle.
 */
export function medianRun(runs: readonly LatencyResult[]): LatencyResult | undefined {
  const median = medianBy(runs, (r) => r.p99);
  if (!median || runs.length === 1) return median;
  const each = `median p99 of ${runs.length} runs: ${runs.map((r) => (Number.isNaN(r.p99) ? 'none' : r.p99.toFixed(1))).join(', ')} ms`;
  return { ...median, note: [median.note, each].filter(Boolean).join('; ') };
}

async function gatewayLag(httpPort: number | undefined): Promise<Pick<LatencyResult, 'eventLoopLagP99Ms' | 'eventLoopLagMaxMs'>> {
  if (!httpPort) return {};
  // A gateway that died under the load has no metrics: the run says so (see `note`).
  return gatewayLagOf(httpPort).catch(() => ({}));
}

async function gatewayLagOf(httpPort: number): Promise<Pick<LatencyResult, 'eventLoopLagP99Ms' | 'eventLoopLagMaxMs'>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN) * 1000;
  return {
    eventLoopLagP99Ms: value(/^gateway_nodejs_eventloop_lag_p99_seconds ([\d.e-]+)/m),
    eventLoopLagMaxMs: value(/^gateway_nodejs_eventloop_lag_max_seconds ([\d.e-]+)/m),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * A subscriber to everything that stops reading once subscribed: its socket buffers fill, and
 * without the gateway's delivery bound (broker/delivery.ts) every delivery, commands included,
 * would queue behind it until the slow-client timeout cut it.
 */
async function stuckSubscriber(port: number): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const subscribed = new Promise<void>((resolve) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      // CONNACK (4 bytes), then SUBACK (0x90): then stop reading for good.
      if (seen.includes(0x90, 4)) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
  });
  socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'bench-stuck', keepalive: 0 }));
  socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] }));
  await subscribed;
  return socket;
}

export async function measureLatency(influxUrl: string, rate: number, seconds: number, commandShare = 0.1, zones = 50, stuck = false): Promise<LatencyResult> {
  const rulesDir = await mkdtemp(join(tmpdir(), 'gw-bench-rules-'));
  await cp(join(ROOT, 'rules'), rulesDir, { recursive: true, filter: (src) => !src.includes('/tests') && !src.endsWith('.ts') && !src.endsWith('.md') });
  await writeFile(join(rulesDir, 'latency-probe.json'), JSON.stringify(PROBE_PACK));
  const gateway = await startGatewayProcess({ influxUrl, db: `bench_lat_${randomBytes(3).toString('hex')}`, env: { RULES_DIR: rulesDir } });
  const url = `mqtt://127.0.0.1:${gateway.mqttPort}`;
  const actuator = await mqtt.connectAsync(url, { clientId: 'bench-actuator', reconnectPeriod: 0 });
  const devices = await Promise.all(Array.from({ length: zones }, (_, z) => mqtt.connectAsync(url, { clientId: `lat-t${z}`, reconnectPeriod: 0 })));
  const background = await Promise.all(Array.from({ length: zones }, (_, z) => mqtt.connectAsync(url, { clientId: `lat-b${z}`, reconnectPeriod: 0 })));
  const every = Math.max(1, Math.round(1 / commandShare));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const received = new Map<string, { at: number; made: number }>();
  actuator.on('message', (_topic, payload) => {
    const at = performance.now();
    const command = JSON.parse(payload.toString()) as { correlationid: string; time: string };
    const id = command.correlationid;
    const t0 = sentAt.get(id);
    if (t0 !== undefined) {
      latencies.push(at - t0);
      // When the gateway made the command, by its wall clock (ms), on the bench's clock (the two compared now: they drift).
      received.set(id, { at, made: Date.parse(command.time) - (Date.now() - at) });
    }
  });
  await actuator.subscribeAsync('commands/lat/+/probe', { qos: 1 });
  const stuckSocket = stuck ? await stuckSubscriber(gateway.mqttPort) : undefined;
  if (stuck) {
    // More than the kernel's socket buffers take (a few MB on loopback): the stuck one is behind from the first probe on.
    const pad = 'x'.repeat(60_000);
    for (let i = 0; i < 120; i++) await background[0]!.publishAsync('sensors/bg/flood/f1/humidity', `{"value":40,"id":"flood-${i}","pad":"${pad}"}`, { qos: 1 });
  }
  try {
    let n = 0;
    let probes = 0;
    /** Publishes at `rate` for `secs`; probes are timed only when `measure`. Returns the probes sent. */
    const phase = (secs: number, measure: boolean): Promise<number> =>
      new Promise((resolve) => {
        const total = Math.round(rate * secs);
        const started = performance.now();
        let sent = 0;
        let timed = 0;
        const tick = (): void => {
          const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000)) - sent;
          for (let i = 0; i < due; i++, sent++) {
            const k = n++;
            if (k % every !== 0) {
              const z = k % zones;
              background[z]!.publish(`sensors/bg/b${z}/b${z}/temperature`, `{"value":25,"id":"bg-${k}"}`, { qos: 1 });
              continue;
            }
            const p = probes++;
            const zone = p % zones;
            const id = `lat-${p}`;
            const value = Math.floor(p / zones) % 2 === 0 ? 31 : 22;
            if (measure) {
              sentAt.set(id, performance.now());
              timed++;
            }
            devices[zone]!.publish(`sensors/lat/z${zone}/t${zone}/temperature`, `{"value":${value},"id":"${id}"}`, { qos: 1 });
          }
          if (sent >= total) resolve(timed);
          else setTimeout(tick, 1);
        };
        tick();
      });
    // Warm up (JIT, lazily loaded modules, first InfluxDB writes), then reset the gateway's lag histogram.
    await phase(Math.min(3, seconds), false);
    await new Promise((r) => setTimeout(r, 500));
    await gatewayLag(gateway.httpPort);
    const gcBefore = await gatewayGc(gateway.httpPort);
    const benchLag = monitorEventLoopDelay({ resolution: 1 });
    benchLag.enable();
    const cpuBefore = cpuSeconds(gateway.child.pid);
    const phaseStarted = performance.now();
    const timed = await phase(seconds, true);
    const cpuUsed = cpuSeconds(gateway.child.pid) - cpuBefore;
    const phaseSeconds = (performance.now() - phaseStarted) / 1000;
    benchLag.disable();
    const gcAfter = await gatewayGc(gateway.httpPort);
    const gc = gcBefore && gcAfter ? { gcShare: (gcAfter.seconds - gcBefore.seconds) / phaseSeconds, gcPausesOver10Ms: gcAfter.over10Ms - gcBefore.over10Ms } : {};
    const cpu = { gatewayCpuUsPerReading: (cpuUsed * 1e6) / (rate * seconds), gatewayCpuShare: cpuUsed / phaseSeconds, benchLagP99Ms: benchLag.percentile(99) / 1e6, ...gc };
    const deadline = performance.now() + 5000;
    while (latencies.length < timed && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const sorted = [...latencies].sort((a, b) => a - b);
    if (process.env['BENCH_LATENCY_TRACE']) await writeTrace(process.env['BENCH_LATENCY_TRACE'], sentAt, received);
    const lag = await gatewayLag(gateway.httpPort);
    const { exitCode, signalCode } = gateway.child;
    const exited = exitCode !== null || signalCode !== null ? `the gateway exited under the load (${signalCode ?? `code ${exitCode}`})` : undefined;
    // A saturated gateway falls behind the rate: its CPU per reading sent is then only a floor of what a reading costs.
    const saturated = cpu.gatewayCpuShare >= 0.95 ? 'saturated: the gateway took a whole core (its CPU per reading is at least the figure)' : undefined;
    const note = exited ?? saturated;
    const halves = splitAtMade(sentAt, received);
    return { ...lag, ...cpu, ...halves, note, rate, commandShare, seconds, ...(stuck ? { stuckSubscriber: true } : {}), sent: timed, received: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted.at(-1) ?? Number.NaN };
  } finally {
    stuckSocket?.destroy();
    await Promise.all([actuator, ...devices, ...background].map((c) => c.endAsync(true)));
    await gateway.stop();
    await rm(rulesDir, { recursive: true, force: true });
  }
}

/** The p99 of each half of the probes' time, split where the rules made the command. */
function splitAtMade(sentAt: ReadonlyMap<string, number>, received: ReadonlyMap<string, { at: number; made: number }>): { p99UntilMadeMs?: number; p99AfterMadeMs?: number } {
  const until: number[] = [];
  const after: number[] = [];
  for (const [id, t0] of sentAt) {
    const r = received.get(id);
    if (!r || !Number.isFinite(r.made)) continue;
    until.push(r.made - t0);
    after.push(r.at - r.made);
  }
  if (until.length === 0) return {};
  const sorted = (xs: number[]): number[] => xs.sort((a, b) => a - b);
  return { p99UntilMadeMs: percentile(sorted(until), 99), p99AfterMadeMs: percentile(sorted(after), 99) };
}

/**
 * `BENCH_LATENCY_TRACE=<file>` (read by `scripts/latency-trace.mjs`): every timed probe as a JSON line: sent, received, and made (the
 * command's own `time`, when the gateway's rules made it, ms precision) on the monotonic clock in
 * ms (the clock of V8's `--cpu-prof` timestamps, µs there), to split a slow command's time into
 * before and after the rules, and line it up against what the gateway was doing.
 */
async function writeTrace(file: string, sentAt: ReadonlyMap<string, number>, received: ReadonlyMap<string, { at: number; made: number }>): Promise<void> {
  const toMonotonic = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const lines = [...sentAt].map(([id, t0]) => {
    const r = received.get(id);
    return JSON.stringify({ id, sent: t0 + toMonotonic, received: r ? r.at + toMonotonic : null, made: r ? r.made + toMonotonic : null });
  });
  await appendFile(file, lines.join('\n') + '\n');
}
