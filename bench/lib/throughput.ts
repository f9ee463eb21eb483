/** Throughput: bare Aedes and Mosquitto forwarding, raw InfluxDB ingest, the gateway end to end. */
import { randomBytes } from 'node:crypto';
import { cpuMeter } from './cpu.js';
import { blast, connectFleet, countingSubscriber, makeReadings } from './load.js';
import { createDb, lines, postLines, waitForCount } from './influx.js';
import { startBareAedes, startGatewayProcess, startMosquitto, type Server } from './processes.js';

export interface LoadShape {
  readonly devices: number;
  readonly readings: number;
  /** Most publishes outstanding at once across the fleet. */
  readonly window: number;
  /** Hold publishers back until the subscriber has received (what a broker sustains). */
  readonly bounded: boolean;
}

export interface Measurement {
  readonly name: string;
  readonly unit: 'msgs/s' | 'points/s' | 'events/s';
  readonly rate: number;
  readonly count: number;
  readonly seconds: number;
  /** Readings sent but never counted (forwarded or stored). */
  readonly loss?: number;
  readonly note?: string;
  /** % of one core each process used over the timed part (server, bench = load generator and subscriber, influxd). */
  readonly cpu?: Record<string, number>;
  /** The server's CPU time (user + system, from /proc) per message or reading counted, in µs. */
  readonly serverUsPerMessage?: number;
}

/** The InfluxDB process, so its CPU can be reported too. */
let influxPid: number | undefined;
export function reportInfluxCpu(pid: number | undefined): void {
  influxPid = pid;
}

const dbName = (what: string) => `bench_${what}_${randomBytes(3).toString('hex')}`;

/** Untimed readings first (JIT, lazily loaded modules, first writes): a tenth of the run, at least 5,000. */
const warmupOf = (shape: LoadShape) => Math.max(5000, Math.round(shape.readings / 10));

/** A broker forwarding every reading, published at `qos`, to one subscriber on `sensors/#` (QoS 0). */
export async function forwarding(server: Server, name: string, shape: LoadShape, qos: 0 | 1 = 0): Promise<Measurement> {
  const url = `mqtt://127.0.0.1:${server.mqttPort}`;
  const warm = warmupOf(shape);
  const { fleet, readings: all } = makeReadings(shape.devices, warm + shape.readings, `fw${randomBytes(2).toString('hex')}`);
  const subscriber = await countingSubscriber(url, 'sensors/#');
  const devices = await connectFleet(url, fleet);
  try {
    await blast(devices, all.slice(0, warm), qos, shape.window, shape.bounded ? subscriber : undefined);
    await subscriber.until(warm, 60_000);
    const readings = all.slice(warm);
    const meter = cpuMeter({ server: server.child.pid, bench: process.pid });
    const started = performance.now();
    await blast(devices, readings, qos, shape.window, shape.bounded ? subscriber : undefined);
    const received = (await subscriber.until(all.length, 60_000)) - warm;
    const seconds = (performance.now() - started) / 1000;
    const serverUsPerMessage = (meter.seconds()['server']! * 1e6) / received;
    return { name, unit: 'msgs/s', rate: received / seconds, count: received, seconds, loss: readings.length - received, cpu: meter.stop(seconds), serverUsPerMessage };
  } finally {
    await devices.close();
    await subscriber.close();
  }
}

export async function measureBareAedes(shape: LoadShape, deque = false, qos: 0 | 1 = 0): Promise<Measurement> {
  const server = await startBareAedes(deque);
  try {
    const name = deque ? `baseline: bare Aedes with the gateway’s deque bus (QoS ${qos})` : `baseline: bare Aedes → 1 subscriber (QoS ${qos})`;
    return await forwarding(server, name, shape, qos);
  } finally {
    await server.stop();
  }
}

export async function measureMosquitto(shape: LoadShape): Promise<Measurement | undefined> {
  const server = await startMosquitto();
  if (!server) return undefined;
  try {
    return await forwarding(server, 'peer: Mosquitto → 1 subscriber (QoS 0)', shape);
  } finally {
    await server.stop();
  }
}

/** The same points posted straight to InfluxDB as line protocol, in batches of 5,000. */
export async function measureCeiling(influxUrl: string, shape: LoadShape): Promise<Measurement> {
  const db = dbName('ceiling');
  await createDb(influxUrl, db);
  const body = lines(makeReadings(shape.devices, shape.readings, 'ceil').readings);
  const started = performance.now();
  await postLines(influxUrl, db, body, 5000);
  const seconds = (performance.now() - started) / 1000;
  return { name: 'ceiling: line protocol straight to InfluxDB (5,000/batch)', unit: 'points/s', rate: body.length / seconds, count: body.length, seconds };
}

export interface GatewayRun {
  readonly qos: 0 | 1;
  readonly env?: Record<string, string>;
  readonly label: string;
}

/**
 * N readings through the gateway, timed until all are counted in InfluxDB. One subscriber on
 * `sensors/#` receives them too, as in the baseline, so the broker's forwarding work is the same.
 */
export async function measureGateway(influxUrl: string, shape: LoadShape, run: GatewayRun): Promise<Measurement & { ackSeconds: number; forwarded: number }> {
  const db = dbName('gw');
  const gateway = await startGatewayProcess({ influxUrl, db, env: run.env });
  const url = `mqtt://127.0.0.1:${gateway.mqttPort}`;
  const warm = warmupOf(shape);
  const { fleet, readings: all } = makeReadings(shape.devices, warm + shape.readings, `gw${randomBytes(2).toString('hex')}`);
  const subscriber = await countingSubscriber(url, 'sensors/#');
  const devices = await connectFleet(url, fleet);
  try {
    await blast(devices, all.slice(0, warm), run.qos, shape.window, shape.bounded ? subscriber : undefined);
    await waitForCount(influxUrl, db, warm, 60_000);
    const readings = all.slice(warm);
    const meter = cpuMeter({ server: gateway.child.pid, bench: process.pid, influxd: influxPid });
    const started = performance.now();
    const { failed } = await blast(devices, readings, run.qos, shape.window, shape.bounded ? subscriber : undefined);
    const ackSeconds = (performance.now() - started) / 1000;
    const stored = (await waitForCount(influxUrl, db, all.length, 120_000)) - warm;
    const seconds = (performance.now() - started) / 1000;
    // Anything late would show as loss; give stragglers a moment, then count once more.
    const final = stored >= readings.length ? stored : (await waitForCount(influxUrl, db, all.length, 5000)) - warm;
    const forwarded = (await subscriber.until(all.length, 5000)) - warm;
    return {
      cpu: meter.stop(seconds),
      serverUsPerMessage: final > 0 ? (meter.seconds()['server']! * 1e6) / final : Number.NaN,
      forwarded,
      name: run.label,
      unit: 'events/s',
      rate: final / seconds,
      count: final,
      seconds,
      ackSeconds,
      loss: readings.length - final,
      note: [failed > 0 ? `${failed} publishes failed` : '', forwarded < readings.length ? `subscriber got ${forwarded}` : ''].filter(Boolean).join('; ') || undefined,
    };
  } finally {
    await devices.close();
    await subscriber.close();
    await gateway.stop();
  }
}
