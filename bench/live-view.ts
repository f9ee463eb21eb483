/**
 * Does the live page slow ingest? The same simulated load (QoS 1, as fast as the gateway takes
 * it) with no viewer and with several browsers' worth of event streams open, alternating, against
 * a real gateway and a real InfluxDB. Not part of `npm test`.
 *
 *   npx tsx bench/live-view.ts [--readings 20000] [--viewers 5] [--rounds 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings } from '../gateway/config/settings.js';
import { Gateway } from '../gateway/gateway.js';
import { createLogger } from '../gateway/observability/log.js';
import { startInfluxd } from '../gateway/storage/influxd.js';
import { runSimulation } from '../simulators/simulator.js';

const { values } = parseArgs({ options: { readings: { type: 'string', default: '20000' }, viewers: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const readings = Number(values.readings);
const viewerCount = Number(values.viewers);
const rounds = Number(values.rounds);

const dir = await mkdtemp(join(tmpdir(), 'gw-bench-live-'));
const influx = await startInfluxd({ dataDir: join(dir, 'influx') });
const settings = loadSettings({ MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', INFLUX_URL: influx.url, INFLUX_DB: 'bench', DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn' });
const gateway = new Gateway(settings, { log: createLogger('warn') });
const running = await gateway.start();
const http = `http://127.0.0.1:${running.ports.http}`;

/** Opens `n` event streams and counts the bytes they receive. */
async function viewers(n: number): Promise<{ bytes: () => number; close: () => void }> {
  const abort = new AbortController();
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${http}/live/events`, { signal: abort.signal });
    void (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
      } catch {
        // closed
      }
    })();
  }
  return { bytes: () => bytes, close: () => abort.abort() };
}

const results: { viewers: number; rate: number; bytes: number }[] = [];
try {
  let prefix = 0;
  for (let round = 0; round < rounds; round++) {
    for (const n of [0, viewerCount]) {
      const v = await viewers(n);
      const summary = await runSimulation({ url: `mqtt://127.0.0.1:${running.ports.mqtt}`, devices: 50, rate: 0, count: readings, qos: 1, prefix: `b${prefix++}`, seed: round + 1 });
      await new Promise((r) => setTimeout(r, settings.livePushMs * 2));
      results.push({ viewers: n, rate: summary.rate, bytes: v.bytes() });
      v.close();
      process.stdout.write(`round ${round + 1}, ${n} viewers: ${summary.rate.toFixed(0)} readings/s acknowledged, ${(v.bytes() / 1024).toFixed(0)} KiB pushed to the viewers\n`);
    }
  }
  for (const n of [0, viewerCount]) {
    const rates = results.filter((r) => r.viewers === n).map((r) => r.rate).sort((a, b) => a - b);
    process.stdout.write(`${n} viewers: median ${rates[Math.floor(rates.length / 2)]!.toFixed(0)} readings/s over ${rates.length} runs of ${readings}\n`);
  }
} finally {
  await gateway.stop();
  await influx.stop();
  await rm(dir, { recursive: true, force: true });
}
