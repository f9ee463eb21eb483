/**
 * What keeping the broker's state across restarts costs (gateway/broker/file-persistence.ts):
 *
 * 1. a snapshot of a given size: event-loop time to gather and encode it, time to write it
 *    (fsync included), its size — at the default limits' worst case and at an ordinary size;
 * 2. the hot path: a real Aedes on a real socket, a persistent-session (clean=false) QoS 1
 *    subscriber to `#` and a QoS 1 publisher, with the snapshot (every 1 s) and without it
 *    (the in-memory persistence as before), msgs/s and CPU µs per message, alternating runs.
 *
 *   node --import tsx bench/mqtt-snapshot.ts [--messages 50000] [--rounds 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { FilePersistence } from '../gateway/broker/file-persistence.js';
import { BoundedPersistence, type PersistenceLimits } from '../gateway/broker/persistence.js';
import { RetainedLedger } from '../gateway/broker/retained.js';
import { systemClock } from '../gateway/core/clock.js';
import { Metrics } from '../gateway/observability/metrics.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const LIMITS: PersistenceLimits = { maxInflightQos2: 32, maxInflightQos2Bytes: 1 << 20, maxQueuedMessages: 1000, maxQueuedBytes: 4 << 20, maxQueuedBytesTotal: 64 << 20, sessionExpiryMs: 86_400_000, maxAwaySessions: 100_000 };
const metrics = (): Metrics => new Metrics({ spool: () => ({ bytes: 0, events: 0, oldestAppendedAt: undefined }), connectedClients: () => 0, influxUp: () => true, now: () => systemClock.now() });
const log = pino({ level: 'silent' });

async function snapshotOf(o: { sessions: number; queuedPerSession: number; payload: number; subsOnly: number; retained: number; retainedPayload: number }) {
  const dir = await mkdtemp(join(tmpdir(), 'gw-snapshot-bench-'));
  const m = metrics();
  const ledger = new RetainedLedger({ metrics: m, maxBytesPerClient: 0, maxBytes: 0 });
  const p = new FilePersistence(LIMITS, {}, { file: join(dir, 'mqtt-state.bin'), intervalMs: 3_600_000, ledger, metrics: m, log });
  const broker = Object.assign(new (await import('node:events')).EventEmitter(), { id: 'bench', clients: {} });
  await p.setup(broker as unknown as Aedes);
  let counter = 0;
  for (let s = 0; s < o.sessions + o.subsOnly; s++) {
    const client = { id: `client-${s}`, clean: false } as never;
    await p.addSubscriptions(client, [{ topic: `commands/site-${s}/#`, qos: 1 }]);
    broker.emit('clientDisconnect', client);
    if (s >= o.sessions) continue;
    for (let i = 0; i < o.queuedPerSession; i++) await p.outgoingEnqueue({ clientId: `client-${s}` }, { cmd: 'publish', topic: `commands/site-${s}/z/hvac`, payload: Buffer.alloc(o.payload, 0x61), qos: 1, retain: false, dup: false, brokerId: 'bench', brokerCounter: ++counter });
  }
  for (let r = 0; r < o.retained; r++) {
    const topic = `devices/device-${r}/status`;
    ledger.decide('dev', topic, o.retainedPayload, true);
    await p.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(o.retainedPayload, 0x62), qos: 1, retain: true, dup: false });
  }
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const started = performance.now();
  await p.close();
  const total = performance.now() - started;
  loop.disable();
  await rm(dir, { recursive: true, force: true });
  const busyS = (await m.registry.getSingleMetric('gateway_mqtt_snapshot_seconds')!.get()).values[0]!.value;
  const bytes = (await m.registry.getSingleMetric('gateway_mqtt_snapshot_bytes')!.get()).values[0]!.value;
  return { busyMs: busyS * 1000, writeMs: total - busyS * 1000, mb: bytes / 1e6, queued: p.queued.messages, longestBlockMs: loop.max / 1e6 };
}

async function hotPath(withSnapshot: boolean, dir: string, messages: number): Promise<{ perS: number; cpuUsPerMsg: number; snapshots: number }> {
  const m = metrics();
  const persistence = withSnapshot
    ? new FilePersistence(LIMITS, {}, { file: join(dir, 'hot.bin'), intervalMs: 1000, ledger: new RetainedLedger({ metrics: m, maxBytesPerClient: 0, maxBytes: 0 }), metrics: m, log })
    : new BoundedPersistence(LIMITS, {});
  const aedes = new Aedes({ persistence });
  await aedes.listen();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sub = await mqtt.connectAsync(url, { clientId: 'sub', clean: false, reconnectPeriod: 0 });
  await sub.subscribeAsync('#', { qos: 1 });
  const pub = await mqtt.connectAsync(url, { clientId: 'pub', reconnectPeriod: 0 });
  let got = 0;
  const done = new Promise<void>((r) => sub.on('message', () => ++got === messages && r()));
  const payload = JSON.stringify({ value: 21.5, ts: Date.now(), id: 't-1-1' });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < messages; i++) void pub.publishAsync(`sensors/s/z/d${i % 50}/temperature`, payload, { qos: 1 });
  await done;
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  const snapshots = withSnapshot ? (await m.registry.getSingleMetric('gateway_mqtt_snapshot_bytes')!.get()).values.length : 0;
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  await new Promise<void>((r) => aedes.close(() => r()));
  if (withSnapshot) await (persistence as FilePersistence).close();
  server.close();
  return { perS: Math.round(messages / seconds), cpuUsPerMsg: Math.round(((used.user + used.system) / messages) * 10) / 10, snapshots };
}

const dir = await mkdtemp(join(tmpdir(), 'gw-snapshot-bench-'));
try {
  const worst = await snapshotOf({ sessions: 100, queuedPerSession: 1000, payload: 650, subsOnly: 99_900, retained: 60_000, retainedPayload: 120 });
  // 100,000 messages of 650 bytes are offered; MQTT_MAX_QUEUED_BYTES_TOTAL (64 MiB, each counted with its topic and overhead) keeps ~70,000.
  console.log(`worst case at the default limits (100,000 away sessions, 64 MiB queued as counted, 60,000 retained = 16 MB): ${worst.busyMs.toFixed(0)} ms on the event loop in all (longest block ${worst.longestBlockMs.toFixed(0)} ms), ${worst.writeMs.toFixed(0)} ms writing, ${worst.mb.toFixed(1)} MB; queued ${worst.queued}`);
  const usual = await snapshotOf({ sessions: 200, queuedPerSession: 5, payload: 300, subsOnly: 800, retained: 2000, retainedPayload: 40 });
  console.log(`ordinary (1,000 persistent sessions, 1,000 queued, 2,000 retained): ${usual.busyMs.toFixed(1)} ms on the event loop in all (longest block ${usual.longestBlockMs.toFixed(0)} ms), ${usual.writeMs.toFixed(1)} ms writing, ${usual.mb.toFixed(2)} MB`);
  const messages = arg('messages', 50_000);
  for (let round = 0; round < arg('rounds', 3); round++) {
    for (const withSnapshot of [false, true]) {
      const r = await hotPath(withSnapshot, dir, messages);
      console.log(`hot path, ${withSnapshot ? 'snapshot every 1 s' : 'memory only       '}: ${r.perS} msgs/s, ${r.cpuUsPerMsg} µs CPU/msg (publisher and subscriber in this process too)`);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
