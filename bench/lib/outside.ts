/**
 * Issue 17's own measurement, from outside: 10 `mosquitto_pub -l` publishers (Debian's C clients,
 * one device each, every line a reading in the contract's format, no `ts`: ruled as now) send
 * N readings as fast as the broker reads them; bare Aedes forwarding to one `mosquitto_sub` is
 * timed until that subscriber has them all, the gateway (as `npm start` runs it, the same
 * subscriber connected) until InfluxDB counts them all.
 *
 * Unlike the throughput section's load (100 `mqtt` clients in one Node process, which write
 * many publishes per socket write), each C publisher sends every reading in its own write at
 * QoS 0, as a device does: the broker reads about one message per read.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMeter } from './cpu.js';
import { createDb, waitForCount } from './influx.js';
import { startGatewayProcess, type Server } from './processes.js';
import type { Measurement } from './throughput.js';

export const OUTSIDE_PUBLISHERS = 10;
const PUB = '/usr/bin/mosquitto_pub';
const SUB = '/usr/bin/mosquitto_sub';

/** Debian's mosquitto clients (`mosquitto-clients`), which scripts/setup.sh installs. */
export const outsideClientsInstalled = (): boolean => existsSync(PUB) && existsSync(SUB);

/** One file a publisher, one reading a line: values in the comfort band, so no shipped rule fires. */
async function writeLoad(dir: string, tag: string, perPublisher: number): Promise<string[]> {
  const files: string[] = [];
  for (let p = 0; p < OUTSIDE_PUBLISHERS; p++) {
    const lines: string[] = [];
    for (let i = 0; i < perPublisher; i++) lines.push(`{"value":${(21 + ((i * 7 + p) % 20) / 10).toFixed(1)},"seq":${i},"id":"${tag}-${p}-${i}"}`);
    const file = join(dir, `${tag}-${p}.txt`);
    await writeFile(file, `${lines.join('\n')}\n`);
    files.push(file);
  }
  return files;
}

function exitOf(cmd: string, args: readonly string[], stdin?: string): Promise<number | null> {
  const child = spawn('sh', ['-c', `exec "$0" "$@"${stdin ? ' < "$STDIN_FILE"' : ''}`, cmd, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, STDIN_FILE: stdin ?? '' },
  });
  return new Promise((r) => child.once('exit', r));
}

async function publishAll(port: number, files: readonly string[], tag: string, qos: 0 | 1): Promise<void> {
  const codes = await Promise.all(
    files.map((file, p) => exitOf(PUB, ['-h', '127.0.0.1', '-p', String(port), '-q', String(qos), '-i', `${tag}-pub-${p}`, '-t', `sensors/out/z${p}/${tag}-d${p}/temperature`, '-l'], file)),
  );
  if (codes.some((c) => c !== 0)) throw new Error(`mosquitto_pub exited with ${codes.join(', ')}`);
}

/** `mosquitto_sub` on `sensors/#` (QoS 0) that exits once it has `expected` messages. */
async function subscriber(port: number, expected: number): Promise<{ done: Promise<void>; stop(): void }> {
  const child = spawn(SUB, ['-h', '127.0.0.1', '-p', String(port), '-t', 'sensors/#', '-q', '0', '-C', String(expected)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  // mosquitto_sub prints nothing when subscribed; half a second lets its SUBSCRIBE land first.
  await new Promise((r) => setTimeout(r, 500));
  return { done, stop: () => child.kill() };
}

export interface OutsideShape {
  readonly readings: number;
}

/** What a run's end condition gets: the readings timed, when they started, the CPU meter, the subscriber. */
interface Timed {
  readonly n: number;
  readonly started: number;
  readonly meter: ReturnType<typeof cpuMeter>;
  readonly subscribed: Promise<boolean>;
}

/**
 * The run both rows share: the subscriber on `port`, an untimed warm-up of the same size (JIT,
 * buffers; `warmed` waits for it to land), then the timed publishing; `finish` waits for the end.
 */
async function outsideRun(port: number, pid: number | undefined, shape: OutsideShape, qos: 0 | 1, warmed: (n: number) => Promise<unknown>, finish: (t: Timed) => Promise<Measurement>): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-bench-outside-'));
  const per = Math.floor(shape.readings / OUTSIDE_PUBLISHERS);
  const n = per * OUTSIDE_PUBLISHERS;
  const tag = `o${Math.random().toString(36).slice(2, 7)}`;
  const sub = await subscriber(port, 2 * n);
  try {
    await publishAll(port, await writeLoad(dir, `${tag}w`, per), `${tag}w`, qos);
    await warmed(n);
    const files = await writeLoad(dir, tag, per);
    const meter = cpuMeter({ server: pid });
    const started = performance.now();
    await publishAll(port, files, tag, qos);
    return await finish({ n, started, meter, subscribed: sub.done.then(() => true) });
  } finally {
    sub.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const within = (p: Promise<boolean>, ms: number): Promise<boolean> => Promise.race([p, new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

/** A broker forwarding every reading to one `mosquitto_sub`, timed until it has them all. */
export function outsideForwarding(server: Server, name: string, shape: OutsideShape, qos: 0 | 1): Promise<Measurement> {
  return outsideRun(server.mqttPort, server.child.pid, shape, qos, async () => undefined, async ({ n, started, meter, subscribed }) => {
    const all = await within(subscribed, 120_000);
    const seconds = (performance.now() - started) / 1000;
    return { name, unit: 'msgs/s', rate: n / seconds, count: n, seconds, loss: all ? 0 : Number.NaN, cpu: meter.stop(seconds), serverUsPerMessage: (meter.seconds()['server']! * 1e6) / n, note: all ? undefined : 'the subscriber did not get every message in 120 s' };
  });
}

/** The gateway as `npm start` runs it, the same subscriber connected, timed until InfluxDB counts every reading. */
export async function outsideGateway(influxUrl: string, name: string, shape: OutsideShape, qos: 0 | 1, env?: Record<string, string>): Promise<Measurement> {
  const db = `bench_outside_${Math.random().toString(36).slice(2, 8)}`;
  await createDb(influxUrl, db);
  const gateway = await startGatewayProcess({ influxUrl, db, env });
  try {
    return await outsideRun(gateway.mqttPort, gateway.child.pid, shape, qos, (n) => waitForCount(influxUrl, db, n, 120_000), async ({ n, started, meter, subscribed }) => {
      const stored = (await waitForCount(influxUrl, db, 2 * n, 120_000)) - n;
      const seconds = (performance.now() - started) / 1000;
      const forwarded = await within(subscribed, 5000);
      const notes = [stored < n ? `${n - stored} of ${n} not in InfluxDB after 120 s` : '', forwarded ? '' : 'the subscriber did not get every reading'].filter(Boolean);
      return { name, unit: 'events/s', rate: stored / seconds, count: stored, seconds, loss: n - stored, cpu: meter.stop(seconds), serverUsPerMessage: (meter.seconds()['server']! * 1e6) / Math.max(1, stored), note: notes.join('; ') || undefined };
    });
  } finally {
    await gateway.stop();
  }
}
