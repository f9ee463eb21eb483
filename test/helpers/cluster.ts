/** Gateways as a cluster: real processes on one test Redis, the same InfluxDB database, each its own DATA_DIR. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { partitionsFor } from '../../gateway/core/partition.js';
import { uniqueDb } from './influx.js';
import { spawnGateway, type GatewayProcess } from './process.js';
import { startRedis } from './redis.js';
import { restartablePort } from './restartable-port.js';
import { waitFor } from './wait.js';

export interface ClusterNodeProcess {
  readonly id: string;
  readonly dataDir: string;
  proc: GatewayProcess;
  ports: { mqtt: number; ws: number; http: number };
  readonly mqttUrl: string;
  readonly httpUrl: string;
  /** Starts it again (same id, DATA_DIR and ports) after it was killed. */
  restart(): Promise<void>;
}

export interface ClusterView {
  node: string;
  redis: boolean;
  nodes: { id: string }[];
  partitions: { partition: number; owner: string | null; token: number | null }[];
}

export const TEST_PARTITIONS = 8;

export async function startNode(id: string, env: Record<string, string>, track: (p: GatewayProcess) => GatewayProcess, defer: (fn: () => Promise<unknown>) => void): Promise<ClusterNodeProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), `gw-cluster-${id}-`));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const base = { NODE_ID: id, DATA_DIR: dataDir, PARTITIONS: String(TEST_PARTITIONS), LEASE_MS: '2000', INFLUX_FLUSH_MS: '50', STATS_INTERVAL_MS: '0', ...env };
  const [mqtt, ws, http] = [await restartablePort(), await restartablePort(), await restartablePort()];
  const proc = track(spawnGateway({ ...base, MQTT_PORT: String(mqtt), MQTT_WS_PORT: String(ws), HTTP_PORT: String(http) }));
  const ports = await proc.started(60_000);
  const node: ClusterNodeProcess = {
    id,
    dataDir,
    proc,
    ports,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    async restart() {
      node.proc = track(spawnGateway({ ...base, MQTT_PORT: String(ports.mqtt), MQTT_WS_PORT: String(ports.ws), HTTP_PORT: String(ports.http) }));
      await node.proc.started(60_000);
    },
  };
  return node;
}

export async function clusterView(node: ClusterNodeProcess): Promise<ClusterView> {
  const res = await fetch(`${node.httpUrl}/api/cluster`);
  return (await res.json()) as ClusterView;
}

/** Waits until every partition is owned by the node rendezvous hashing gives it among `ids`. */
export async function settled(via: ClusterNodeProcess, ids: readonly string[], timeoutMs = 30_000): Promise<ClusterView> {
  return waitFor(async () => {
    const view = await clusterView(via);
    const wanted = new Map<number, string>();
    for (const id of ids) for (const p of partitionsFor(id, ids, TEST_PARTITIONS)) wanted.set(p, id);
    const ok = view.nodes.length === ids.length && view.partitions.every((p) => p.owner === wanted.get(p.partition));
    return ok ? view : undefined;
  }, `partitions owned as rendezvous hashing over ${ids.join(', ')} says`, timeoutMs, 100);
}

/**
 * Nodes A and B on a fresh Redis, the test InfluxDB and the plug fixture's rules, with `map` as
 * their device map; `connect` opens a real MQTT client to a node, closed at the end.
 */
export async function nativeCluster(
  name: string,
  map: object,
  { defer, track }: { defer: (fn: () => Promise<unknown>) => void; track: (p: GatewayProcess) => GatewayProcess },
): Promise<{ a: ClusterNodeProcess; b: ClusterNodeProcess; connect: (url: string, clientId: string) => Promise<MqttClient> }> {
  const dir = await mkdtemp(join(tmpdir(), `gw-${name}-`));
  defer(() => rm(dir, { recursive: true, force: true }));
  const devicesFile = join(dir, 'devices.yaml');
  await writeFile(devicesFile, stringify(map));
  const redis = await startRedis();
  defer(() => redis.stop());
  const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb(name.replace(/\W/g, '')), RULES_DIR: resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug'), DEVICES_FILE: devicesFile };
  const [a, b] = await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)));
  await settled(a!, ['A', 'B']);
  const connect = async (url: string, clientId: string) => {
    const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
    defer(() => client.endAsync(true));
    return client;
  };
  return { a: a!, b: b!, connect };
}

/** The node owning a site's partition, by the same hash the gateway uses. */
export { partitionOf } from '../../gateway/core/partition.js';
export { allAcknowledgedStored } from './fleet.js';
