/**
 * `npm run bench -- --cluster`: the same QoS 1 load through one plain gateway and through a
 * cluster of 1, 2 and 3 nodes on one Redis, timed until every reading is in InfluxDB and (for a
 * cluster) forwarded and ruled by its partition's owner. Reports readings/s and the CPU-seconds
 * every process spent per 10,000 readings: on a 2-core machine throughput cannot scale, but the
 * cost per reading says what M machines would carry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { partitionsFor } from '../../gateway/core/partition.js';
import { freePort } from '../../gateway/storage/influxd.js';
import { makeFleet, nextReading, seededRandom, type Reading } from '../../simulators/devices.js';
import { cpuSeconds } from './cpu.js';
import { waitForCount } from './influx.js';
import { blast, type Fleet } from './load.js';
import { startGatewayProcess, type Server } from './processes.js';

export interface ClusterMeasurement {
  readonly name: string;
  readonly nodes: number;
  readonly readings: number;
  readonly seconds: number;
  readonly rate: number;
  /** CPU-seconds per 10,000 readings, by process (gateway nodes summed as `gateways`). */
  readonly cpuPer10k: Readonly<Record<string, number>>;
  /** Gateways + Redis + InfluxDB. */
  readonly serverCpuPer10k: number;
  /** …and the load generator too: every process of the run. */
  readonly totalCpuPer10k: number;
  readonly loss: number;
}

const PARTITIONS = 16;
const SITES = 32;

async function startRedisServer(): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-bench-redis-'));
  const port = await freePort();
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
  const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  for (let i = 0; ; i++) {
    if ((await probe.ping().catch(() => '')) === 'PONG') break;
    if (i > 100) throw new Error('redis-server did not start');
    await sleep(100);
  }
  probe.disconnect();
  return {
    url: `redis://127.0.0.1:${port}`,
    child,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function readingsFor(devices: number, count: number, prefix: string): { fleet: ReturnType<typeof makeFleet>; readings: Reading[] } {
  const random = seededRandom(7);
  const fleet = makeFleet({ devices, prefix, random, sites: SITES, zonesPerSite: 2 });
  const start = Date.now();
  const readings: Reading[] = [];
  for (let i = 0; i < count; i++) readings.push(nextReading(fleet[i % fleet.length]!, start + Math.floor(i / fleet.length), 'normal', random, false));
  return { fleet, readings };
}

/** Devices spread round-robin over the nodes, as a load balancer would. */
async function connectSpread(urls: readonly string[], fleet: ReturnType<typeof makeFleet>): Promise<Fleet> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < fleet.length; i += 100) {
    clients.push(...(await Promise.all(fleet.slice(i, i + 100).map((d, j) => mqtt.connectAsync(urls[(i + j) % urls.length]!, { clientId: d.id, reconnectPeriod: 0, keepalive: 0, clean: true })))));
  }
  return { devices: fleet, clients, close: () => Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined))).then(() => undefined) };
}

/** Every partition's cursor at its stream's newest entry: everything forwarded has been ruled. */
async function ruledAll(redis: Redis): Promise<boolean> {
  const p = redis.pipeline();
  for (let i = 0; i < PARTITIONS; i++) p.xrevrange(`gw:stream:${i}`, '+', '-', 'COUNT', 1).hget(`gw:state:${i}`, 'cursor');
  const r = (await p.exec()) ?? [];
  for (let i = 0; i < PARTITIONS; i++) {
    const newest = (r[2 * i]?.[1] as [string, string[]][] | undefined)?.[0]?.[0];
    const cursor = r[2 * i + 1]?.[1] as string | null;
    if (newest !== undefined && newest !== cursor) return false;
  }
  return true;
}

async function forwardedAll(httpPorts: readonly number[]): Promise<boolean> {
  for (const port of httpPorts) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    const m = /^gateway_cluster_forward_backlog_events (\d+)/m.exec(text);
    if (!m || Number(m[1]) > 0) return false;
  }
  return true;
}

export async function measureClusterRun(influxUrl: string, influxPid: number | undefined, nodes: number, o: { readings: number; devices: number; window: number; baselineRoot?: string }): Promise<ClusterMeasurement> {
  const db = `bench_cluster_${nodes}_${randomBytes(3).toString('hex')}`;
  const redis = nodes > 0 ? await startRedisServer() : undefined;
  const servers: (Server & { dataDir: string })[] = [];
  const probe = redis ? new Redis(redis.url) : undefined;
  try {
    const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
    for (const id of nodes > 0 ? ids : ['plain']) {
      servers.push(await startGatewayProcess({ influxUrl, db, root: o.baselineRoot, env: redis ? { REDIS_URL: redis.url, NODE_ID: id, PARTITIONS: String(PARTITIONS), STATS_INTERVAL_MS: '0' } : { STATS_INTERVAL_MS: '0' } }));
    }
    if (redis) {
      // Ownership settled as rendezvous hashing says, before any timing.
      for (let i = 0; ; i++) {
        // The HTTP port opens last (after the node joined): not answering yet is not settled.
        const view = (await fetch(`http://127.0.0.1:${servers[0]!.httpPort}/api/cluster`)
          .then((r) => r.json())
          .catch(() => ({ partitions: [] }))) as { partitions: { partition: number; owner: string | null }[] };
        if (view.partitions.length === PARTITIONS && view.partitions.every((p) => ids.some((id) => id === p.owner && partitionsFor(id, ids, PARTITIONS).includes(p.partition)))) break;
        if (i > 300) throw new Error('the cluster did not settle');
        await sleep(100);
      }
    }
    const warm = Math.max(5000, Math.round(o.readings / 10));
    const { fleet, readings: all } = readingsFor(o.devices, warm + o.readings, `cl${nodes}${randomBytes(2).toString('hex')}`);
    const devices = await connectSpread(servers.map((s) => `mqtt://127.0.0.1:${s.mqttPort}`), fleet);
    const caughtUp = async (count: number, timeoutMs: number): Promise<number> => {
      const stored = await waitForCount(influxUrl, db, count, timeoutMs);
      if (probe) {
        const deadline = Date.now() + timeoutMs;
        while (!((await forwardedAll(servers.map((s) => s.httpPort!))) && (await ruledAll(probe)))) {
          if (Date.now() > deadline) throw new Error('the cluster did not rule everything in time');
          await sleep(50);
        }
      }
      return stored;
    };
    try {
      await blast(devices, all.slice(0, warm), 1, o.window);
      await caughtUp(warm, 60_000);
      const pids: Record<string, number | undefined> = { bench: process.pid, influxd: influxPid, redis: redis?.child.pid };
      servers.forEach((s, i) => (pids[`node${i + 1}`] = s.child.pid));
      const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
      const started = performance.now();
      await blast(devices, all.slice(warm), 1, o.window);
      const stored = (await caughtUp(all.length, 180_000)) - warm;
      const seconds = (performance.now() - started) / 1000;
      const used = Object.fromEntries(Object.entries(pids).filter(([, pid]) => pid !== undefined).map(([k, pid]) => [k, cpuSeconds(pid) - before[k]!]));
      const per10k = (cpu: number): number => Math.round((cpu * 10_000 * 1000) / stored) / 1000;
      const gateways = Object.entries(used).filter(([k]) => k.startsWith('node')).reduce((s, [, v]) => s + v, 0);
      const server = gateways + (used['redis'] ?? 0) + (used['influxd'] ?? 0);
      return {
        name: nodes === 0 ? (o.baselineRoot ? `one plain gateway, baseline build (${o.baselineRoot})` : 'one plain gateway (REDIS_URL unset)') : `cluster of ${nodes} node${nodes > 1 ? 's' : ''} + Redis`,
        nodes,
        readings: stored,
        seconds,
        rate: stored / seconds,
        cpuPer10k: { gateways: per10k(gateways), ...(redis ? { redis: per10k(used['redis'] ?? 0) } : {}), influxd: per10k(used['influxd'] ?? 0), 'load generator': per10k(used['bench'] ?? 0) },
        serverCpuPer10k: per10k(server),
        totalCpuPer10k: per10k(server + (used['bench'] ?? 0)),
        loss: o.readings - stored,
      };
    } finally {
      await devices.close();
    }
  } finally {
    probe?.disconnect();
    for (const s of servers) await s.stop();
    await redis?.stop();
  }
}

/** What the cost per reading projects: readings/s that M machines of `cores` cores would carry, if the gateways' cost is all that grows with M. */
export function projection(m: ClusterMeasurement, cores: number, machines: readonly number[]): string {
  const perReadingGateway = (m.cpuPer10k['gateways'] ?? 0) / 10_000;
  const perReadingRedis = (m.cpuPer10k['redis'] ?? 0) / 10_000;
  const parts = machines.map((n) => `${n} × ${cores} cores ≈ ${Math.round((n * cores) / perReadingGateway).toLocaleString('en')}/s`);
  const redisCap = perReadingRedis > 0 ? `; one Redis core caps it at ≈ ${Math.round(1 / perReadingRedis).toLocaleString('en')}/s` : '';
  return `${parts.join(', ')} (gateways only)${redisCap}`;
}
