/**
 * npx tsx scripts/measure-access.ts — what access control costs, on this machine:
 *  - ingest through one pipelined MQTT connection with the access hooks in place (PUBLISH_RATE=0),
 *  - the same connection at the default PUBLISH_RATE (1000/s, burst 2000): slowed, nothing lost,
 *  - CONNECT with a credential: first (scrypt) and again (remembered), and 20 wrong passwords at once.
 * Starts its own influxd on a free port; prints one JSON line per measurement.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { CredentialStore } from '../gateway/broker/credentials.js';
import { loadSettings } from '../gateway/config/settings.js';
import { Gateway } from '../gateway/gateway.js';
import { createLogger } from '../gateway/observability/log.js';
import { startInfluxd } from '../gateway/storage/influxd.js';

const dir = await mkdtemp(join(tmpdir(), 'measure-access-'));
const influx = await startInfluxd({ dataDir: join(dir, 'influx') });
let run = 0;

async function gateway(env: Record<string, string>): Promise<{ gw: Gateway; url: string }> {
  const dataDir = join(dir, `data-${run++}`);
  const rulesDir = await mkdtemp(join(dir, 'rules-'));
  const settings = loadSettings({ MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', INFLUX_URL: influx.url, INFLUX_DB: `m${run}`, DATA_DIR: dataDir, RULES_DIR: rulesDir, LOG_LEVEL: 'error', BIND_HOST: '127.0.0.1', ...env });
  const gw = new Gateway(settings, { log: createLogger('error') });
  const running = await gw.start();
  return { gw, url: `mqtt://127.0.0.1:${running.ports.mqtt}` };
}

async function pipelined(n: number, env: Record<string, string>): Promise<void> {
  const { gw, url } = await gateway(env);
  const client = await mqtt.connectAsync(url, { clientId: 'm1', reconnectPeriod: 0 });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) client.publish(`sensors/hq/f${i % 10}/d${i % 100}/temperature`, `{"value":${20 + (i % 10)},"seq":${i}}`, { qos: 0 });
  // The PUBACK of a QoS 1 publish sent last: the broker has handled every earlier one.
  await client.publishAsync('devices/m1/status', 'online', { qos: 1 });
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ measure: 'one pipelined connection, QoS 0', env, messages: n, seconds: +seconds.toFixed(2), perSecond: Math.round(n / seconds) }));
  await client.endAsync();
  await gw.stop();
}

async function connects(): Promise<void> {
  const dataDir = join(dir, `data-${run}`);
  const store = new CredentialStore(join(dataDir, 'credentials.json'));
  const secrets: string[] = [];
  for (let i = 0; i < 20; i++) secrets.push((await store.add({ name: `d${i}`, role: 'device', device: `d${i}`, site: 's', zone: 'z' })).secret);
  const { gw, url } = await gateway({});
  const round = async (): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < 20; i++) await (await mqtt.connectAsync(url, { clientId: `d${i}`, username: `d${i}`, password: secrets[i], reconnectPeriod: 0 })).endAsync();
    return (performance.now() - t) / 20;
  };
  const firstMs = await round();
  const againMs = await round();
  const t = performance.now();
  await Promise.all(Array.from({ length: 20 }, (_, i) => mqtt.connectAsync(url, { clientId: `d${i}`, username: `d${i}`, password: 'wrong', reconnectPeriod: 0 }).catch(() => undefined)));
  console.log(JSON.stringify({ measure: 'CONNECT with a credential', firstMs: +firstMs.toFixed(1), againMs: +againMs.toFixed(1), twentyWrongAtOnceMs: Math.round(performance.now() - t) }));
  await gw.stop();
}

try {
  await pipelined(100_000, { PUBLISH_RATE: '0' });
  await pipelined(10_000, {});
  await connects();
} finally {
  await influx.stop();
  await rm(dir, { recursive: true, force: true });
}
