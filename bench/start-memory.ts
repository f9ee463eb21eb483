/**
 * A whole gateway's start with a large history (run by hand, not part of `npm run bench`):
 * `npx tsx bench/start-memory.ts [readings=1000000] [minutes=29]`.
 *
 * Starts its own influxd, writes `readings` temperature and humidity readings of 100 devices
 * spread over the last `minutes` (inside the shipped packs' 31-minute rebuild window), then starts
 * the gateway as `npm start` runs it (dist/, built first) and reports how long until its broker
 * listens, the peak resident memory of the gateway process (VmHWM) and its rebuild log line.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startInfluxd } from '../gateway/storage/influxd.js';
import { buildGateway, ROOT, stopChild } from './lib/processes.js';

const readings = Number(process.argv[2] ?? 1_000_000);
const minutes = Number(process.argv[3] ?? 29);
const DB = 'iot';
const BATCH = 50_000;

async function post(url: string, path: string, body?: string): Promise<void> {
  const res = await fetch(`${url}${path}`, { method: 'POST', ...(body === undefined ? {} : { body }) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

async function vm(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
}

const listens = (port: number): Promise<boolean> =>
  new Promise((r) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });

const dir = await mkdtemp(join(tmpdir(), 'gw-start-memory-'));
const influx = await startInfluxd({ dataDir: join(dir, 'influx') });
try {
  await buildGateway();
  await post(influx.url, `/query?q=${encodeURIComponent(`CREATE DATABASE "${DB}"`)}`);
  const now = Date.now();
  const from = now - minutes * 60_000;
  const step = (now - from) / readings;
  const written = Date.now();
  for (let i = 0; i < readings; i += BATCH) {
    let lines = '';
    for (let k = i; k < Math.min(readings, i + BATCH); k++) {
      const device = k % 100;
      const kind = device % 2 === 0 ? 'temperature' : 'humidity';
      const ms = Math.floor(from + k * step);
      lines += `${kind},site=hq,zone=z${device % 20},device=d${device} value=${kind === 'temperature' ? 21 + (k % 7) / 10 : 40 + (k % 9)},seq=${k}i,event_id="e${k}" ${ms}\n`;
    }
    await post(influx.url, `/write?db=${DB}&precision=ms`, lines);
  }
  process.stdout.write(`wrote ${readings} readings over ${minutes} min in ${((Date.now() - written) / 1000).toFixed(1)} s\n`);

  const [mqttPort, httpPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  const started = Date.now();
  const child = spawn(process.execPath, ['dist/gateway/main.js'], {
    cwd: ROOT,
    env: { ...process.env, MQTT_PORT: String(mqttPort), MQTT_WS_PORT: String(wsPort), HTTP_PORT: String(httpPort), INFLUX_URL: influx.url, INFLUX_DB: DB, DATA_DIR: join(dir, 'data'), RULES_DIR: join(ROOT, 'rules'), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let rebuilt = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line.includes('rules state rebuilt')) rebuilt = (JSON.parse(line) as { msg: string }).msg;
  });
  let peak = 0;
  while (!(await listens(mqttPort))) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}`);
    peak = Math.max(peak, await vm(child.pid!, 'VmHWM'));
    await sleep(100);
  }
  const seconds = (Date.now() - started) / 1000;
  await sleep(2000);
  peak = Math.max(peak, await vm(child.pid!, 'VmHWM'));
  const settled = await vm(child.pid!, 'VmRSS');
  process.stdout.write(`broker listening after ${seconds.toFixed(1)} s; gateway peak RSS ${peak.toFixed(0)} MB, ${settled.toFixed(0)} MB 2 s later\n${rebuilt}\n`);
  await stopChild(child);
} finally {
  await influx.stop();
  await rm(dir, { recursive: true, force: true });
}
