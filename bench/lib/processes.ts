/** The processes a benchmark runs: the gateway, bare Aedes, Mosquitto, each on its own ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../gateway/storage/influxd.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly mqttPort: number;
  readonly httpPort?: number;
  stop(): Promise<void>;
}

export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 30_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await sleep(100);
  }
}

export async function resident(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export interface GatewayProcessOptions {
  readonly influxUrl: string;
  readonly db: string;
  readonly env?: Record<string, string>;
  /** Another checkout's build (its dist/), for an A/B against the same load; default this one. */
  readonly root?: string;
}

/** Builds what `npm start` runs (dist/), once per bench run. */
export async function buildGateway(): Promise<void> {
  if (process.env['BENCH_GATEWAY'] === 'tsx') return;
  const child = spawn('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`npm run build failed (${code})`);
}

/** The gateway as `npm start` runs it (one node process), logs at warn. */
export async function startGatewayProcess(o: GatewayProcessOptions): Promise<Server & { dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-'));
  const [mqttPort, httpPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway under the bench's load.
  const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  // As `npm start` runs it: the compiled build (bench/run.ts builds first). BENCH_GATEWAY=tsx runs the TypeScript through tsx.
  const entry = process.env['BENCH_GATEWAY'] === 'tsx' && !o.root ? ['--import', 'tsx', 'gateway/main.ts'] : ['dist/gateway/main.js'];
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: o.root ?? ROOT,
    env: {
      ...process.env,
      MQTT_PORT: String(mqttPort),
      MQTT_WS_PORT: String(wsPort),
      HTTP_PORT: String(httpPort),
      INFLUX_URL: o.influxUrl,
      INFLUX_DB: o.db,
      DATA_DIR: dataDir,
      RULES_DIR: join(ROOT, 'rules'),
      LOG_LEVEL: 'warn',
      // The load generator is one process publishing for many devices, from one address: no per-client rate, no connection caps.
      PUBLISH_RATE: '0',
      MAX_CONNECTIONS: '0',
      MQTT_MAX_PENDING_PER_ADDRESS: '0',
      MQTT_MAX_PENDING_CONNECTIONS: '0',
      ...o.env,
    },
    stdio: ['ignore', nodeArgs.length > 0 ? 'inherit' : 'ignore', 'inherit'],
  });
  await waitForPort(mqttPort, child, 'the gateway');
  return {
    name: 'gateway',
    child,
    mqttPort,
    httpPort,
    dataDir,
    async stop() {
      await stopChild(child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Bare Aedes; `deque` gives it the gateway's message bus (gateway/broker/queue.ts), nothing else. */
export async function startBareAedes(deque = false): Promise<Server> {
  const child = spawn(process.execPath, [...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean), '--import', 'tsx', 'bench/servers/bare-aedes.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, AEDES_DEQUE: deque ? '1' : '' },
  });
  const port = await new Promise<number>((res, rej) => {
    createInterface({ input: child.stdout }).once('line', (l) => res((JSON.parse(l) as { port: number }).port));
    child.once('exit', (c) => rej(new Error(`bare Aedes exited with ${c}`)));
  });
  return { name: deque ? 'aedes+deque' : 'aedes', child, mqttPort: port, stop: () => stopChild(child) };
}

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

/** Debian's mosquitto on a free port (undefined when not installed). */
export async function startMosquitto(): Promise<Server | undefined> {
  if (!MOSQUITTO) return undefined;
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'gw-bench-mosq-'));
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\nlog_type error\n`);
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, 'mosquitto');
  return {
    name: 'mosquitto',
    child,
    mqttPort: port,
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
