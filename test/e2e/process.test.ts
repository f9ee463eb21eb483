/** `npm start` as a newcomer runs it: signals, exit codes, settings errors, the embedded InfluxDB default. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { loadSettings } from '../../gateway/config/settings.js';
import { freePort, pingInflux } from '../../gateway/storage/influxd.js';
import { Journal } from '../../gateway/storage/journal.js';
import { startGateway } from '../helpers/gateway.js';
import { count, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { spawnGateway } from '../helpers/process.js';
import { useCleanup } from '../helpers/cleanup.js';
import { silentLog } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-proc-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const baseEnv = async () => ({ MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', DATA_DIR: await tempDir(), RULES_DIR: 'rules' });

/** The lines a stopped gateway left pending in its spool, read as the next start's sink would read them (the spool's own reader). */
async function pendingInSpool(dataDir: string): Promise<string[]> {
  const journal = new Journal({ dir: join(dataDir, 'spool'), maxBytes: 1 << 30, log: silentLog() });
  await journal.open();
  const lines: string[] = [];
  for (let batch = await journal.take(1000); batch; batch = await journal.take(1000)) {
    for (const body of batch.bodies) lines.push(...body.toString('utf8').split('\n').filter((l) => l !== ''));
  }
  expect(lines).toHaveLength(journal.stats().events);
  await journal.close();
  return lines;
}

describe('npm start', () => {
  it('stops on SIGTERM with exit code 0 after writing what it had to InfluxDB', async () => {
    const db = uniqueDb();
    const influx = inject('influxUrl');
    // A long flush interval: the reading is still pending when SIGTERM arrives.
    const gw = track(spawnGateway({ ...(await baseEnv()), INFLUX_URL: influx, INFLUX_DB: db, INFLUX_FLUSH_MS: '60000' }));
    const ports = await gw.started();
    const device = await connect(`mqtt://127.0.0.1:${ports.mqtt}`);
    await device.publishAsync('sensors/hq/f1/t1/temperature', '{"value":21,"id":"term-1"}', { qos: 1 });
    await device.endAsync();
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.logs.some((l) => l.msg === 'gateway stopped')).toBe(true);
    expect(await count(influx, db, 'temperature')).toBe(1);
  });

  it('a clean stop leaves nothing pending in the spool: every event is in InfluxDB, its own last gateway_stats point too', async () => {
    const db = uniqueDb();
    const influx = inject('influxUrl');
    const env = await baseEnv();
    // One hour between stats points: the only one is the last, written while stopping.
    const gw = track(spawnGateway({ ...env, INFLUX_URL: influx, INFLUX_DB: db, STATS_INTERVAL_MS: '3600000' }));
    const ports = await gw.started();
    const device = await connect(`mqtt://127.0.0.1:${ports.mqtt}`);
    for (let i = 0; i < 5; i++) await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 20 + i, id: `clean-${i}` }), { qos: 1 });
    await device.endAsync();
    // The sink idle, waiting for the next event, when the stop comes (the usual Ctrl-C).
    await waitFor(async () => (await count(influx, db, 'temperature')) === 5, 'the readings in InfluxDB');
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(await pendingInSpool(env.DATA_DIR)).toEqual([]);
    expect(await count(influx, db, 'temperature')).toBe(5);
    expect(await count(influx, db, 'gateway_stats', 'interval_s')).toBe(1);
    expect(gw.logs.some((l) => l.msg.includes('stay in the spool'))).toBe(false);
  });

  it('stopped while InfluxDB does not answer: exits 0 and says how many events stay in the spool for the next start', async () => {
    const env = await baseEnv();
    const gw = track(spawnGateway({ ...env, INFLUX_URL: `http://127.0.0.1:${await freePort()}`, INFLUX_DB: uniqueDb(), STATS_INTERVAL_MS: '3600000' }));
    const ports = await gw.started();
    const device = await connect(`mqtt://127.0.0.1:${ports.mqtt}`);
    for (let i = 0; i < 3; i++) await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 20 + i, id: `down-${i}` }), { qos: 1 });
    await device.endAsync();
    gw.child.kill('SIGTERM');
    // Exit 1 would be the 20 s deadline of main.ts forcing the exit.
    expect(await gw.exited).toBe(0);
    const pending = await pendingInSpool(env.DATA_DIR);
    // The three readings and the last gateway_stats point.
    expect(pending.filter((l) => l.startsWith('temperature,'))).toHaveLength(3);
    expect(pending.filter((l) => l.startsWith('gateway_stats,'))).toHaveLength(1);
    const said = gw.logs.find((l) => l.msg.includes('stay in the spool'));
    expect(said).toMatchObject({ events: pending.length });
    expect(gw.logs.findIndex((l) => l === said)).toBeLessThan(gw.logs.findIndex((l) => l.msg === 'gateway stopped'));
  });

  it('stopped while InfluxDB holds a write and never answers it: abandons the write at the drain time, exits 0, keeps the events', async () => {
    const env = await baseEnv();
    // Answers pings and queries (the start's rebuild reads an empty history), holds every write:
    // a write in flight would wait out INFLUX_TIMEOUT_MS.
    const held: ServerResponse[] = [];
    const stalled = createHttpServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/write')) held.push(res);
      else if (req.url?.startsWith('/ping')) res.writeHead(204).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ statement_id: 0 }] }));
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    defer(() => {
      stalled.closeAllConnections();
      return new Promise<void>((resolve) => stalled.close(() => resolve()));
    });
    const port = (stalled.address() as AddressInfo).port;
    const gw = track(spawnGateway({ ...env, INFLUX_URL: `http://127.0.0.1:${port}`, INFLUX_DB: uniqueDb(), INFLUX_TIMEOUT_MS: '120000', INFLUX_FLUSH_MS: '0', STATS_INTERVAL_MS: '3600000' }));
    const ports = await gw.started();
    const device = await connect(`mqtt://127.0.0.1:${ports.mqtt}`);
    await device.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 21, id: 'held-1' }), { qos: 1 });
    await device.endAsync();
    await waitFor(() => held.length > 0, 'a write held by the stalled InfluxDB');
    gw.child.kill('SIGTERM');
    // Exit 1 would be main.ts's 20 s deadline forcing the exit while the write waits for its 120 s timeout.
    expect(await gw.exited).toBe(0);
    const pending = await pendingInSpool(env.DATA_DIR);
    expect(pending.filter((l) => l.startsWith('temperature,'))).toHaveLength(1);
    expect(gw.logs.find((l) => l.msg.includes('stay in the spool'))).toMatchObject({ events: pending.length });
  });

  it('stops on SIGINT too', async () => {
    const gw = track(spawnGateway({ ...(await baseEnv()), INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb() }));
    await gw.started();
    gw.child.kill('SIGINT');
    expect(await gw.exited).toBe(0);
  });

  it('refuses a bad setting with exit 1 and a message naming it: a URL must be a URL, an enum lists its values', async () => {
    const gw = track(spawnGateway({ ...(await baseEnv()), MQTT_PORT: 'eighty', LOG_LEVEL: 'loud', INFLUX_URL: 'localhost:8086', EMBEDDED_INFLUX: 'sometimes', DURABLE_ACK: 'maybe' }));
    expect(await gw.exited).toBe(1);
    const fatal = gw.logs.find((l) => l.level === 60);
    expect(fatal?.['code']).toBe('GW_ERR_SETTINGS');
    expect(fatal?.msg).toContain('MQTT_PORT: must be integer (got "eighty")');
    expect(fatal?.msg).toContain('LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")');
    expect(fatal?.msg).toContain('EMBEDDED_INFLUX: must be one of auto, never (got "sometimes")');
    expect(fatal?.msg).toContain('DURABLE_ACK: must be true or false (got "maybe")');
    expect(fatal?.msg).toContain('INFLUX_URL: must be an http:// or https:// URL such as http://127.0.0.1:8086');
    expect(fatal?.msg).toContain('(got "localhost:8086")');
  });

  it('takes an InfluxDB URL with a scheme, credentials and a path', async () => {
    const settings = loadSettings({ INFLUX_URL: 'https://user:pass@influx.example:8086/prefix' });
    expect(settings.influxUrl).toBe('https://user:pass@influx.example:8086/prefix');
    expect(() => loadSettings({ INFLUX_URL: 'http://' })).toThrow(/INFLUX_URL: must be a URL/);
  });

  it('names a variable that looks like a setting and is none, with the setting it is closest to, and starts', async () => {
    const gw = track(spawnGateway({ ...(await baseEnv()), MQTT_PROT: '1884', INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb() }));
    await gw.started();
    expect(gw.logs.find((l) => l['variable'] === 'MQTT_PROT')).toMatchObject({ level: 40, closest: 'MQTT_PORT', code: 'GW_ERR_SETTINGS' });
  });

  it('logs the ports it bound under LOG_LEVEL=warn too (DESIGN.md), and takes OpenSSL\'s SSL_CERT_FILE for no typo', async () => {
    const gw = track(spawnGateway({ ...(await baseEnv()), LOG_LEVEL: 'warn', SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb() }));
    const ports = await gw.started();
    expect((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).status).toBe(200);
    expect(gw.logs.filter((l) => l.level < 40 && l.msg !== 'gateway started')).toEqual([]);
    expect(gw.logs.filter((l) => l['variable'] === 'SSL_CERT_FILE')).toEqual([]);
  });

  it.each(['MQTT_PORT', 'MQTT_WS_PORT', 'HTTP_PORT'])('says which port is in use and exits 1 (%s)', async (setting) => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    defer(() => new Promise((r) => blocker.close(r)));
    const port = (blocker.address() as { port: number }).port;
    const gw = track(spawnGateway({ ...(await baseEnv()), [setting]: String(port), INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb() }));
    expect(await gw.exited).toBe(1);
    // A logged fatal error with the setting and the way out, not a stack trace of an unhandled 'error' event.
    expect(gw.logs.find((l) => l.level === 60)?.msg).toMatch(new RegExp(`GW_ERR_LISTEN: ${setting}=${port} on 127.0.0.1: EADDRINUSE \\(the port is in use; pick another or 0 for any free port\\)`));
  });
});

describe('the embedded InfluxDB default (INFLUX_URL unset, nothing answering)', () => {
  it('starts influxd under DATA_DIR, says so, stores readings in it, and stops it with the gateway', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const gw = await startGateway({ embedded: { defaultUrl: url } });
    defer(() => gw.stop());
    expect(gw.logs.find((l) => l.msg.startsWith('started an embedded InfluxDB'))).toMatchObject({ url });
    const device = await connect(gw.mqttUrl);
    await device.publishAsync('sensors/hq/f1/t1/temperature', '{"value":21}', { qos: 1 });
    await device.endAsync();
    await waitFor(async () => (await count(url, gw.db, 'temperature')) === 1, 'the reading in the embedded InfluxDB');
    await gw.stop();
    expect(await pingInflux(url)).toBe(false);
  });

  it('uses an InfluxDB that already answers at the default address, and says it is not its own (on a shared machine it may be someone else\'s)', async () => {
    const url = inject('influxUrl');
    const gw = await startGateway({ embedded: { defaultUrl: url } });
    defer(() => gw.stop());
    expect(gw.logs.find((l) => String(l.msg).startsWith('an InfluxDB already answers'))).toMatchObject({ url, database: gw.db, msg: expect.stringContaining('not starting one of our own; set INFLUX_URL to choose') });
    expect(gw.logs.filter((l) => String(l.msg).startsWith('started an embedded InfluxDB'))).toEqual([]);
  });

  it('with no influxd installed: says how to get one, keeps running, and keeps readings in the spool', async () => {
    const gw = await startGateway({ embedded: { defaultUrl: `http://127.0.0.1:${await freePort()}`, binary: null } });
    defer(() => gw.stop());
    const hint = gw.logs.find((l) => l['code'] === 'GW_ERR_INFLUX_NOT_INSTALLED');
    expect(hint?.msg).toContain('apt-get install -y influxdb');
    const device = await connect(gw.mqttUrl);
    await device.publishAsync('sensors/hq/f1/h1/humidity', '{"value":40}', { qos: 1 });
    await device.endAsync();
    expect(gw.gateway.spool.stats().events).toBe(1);
    const ready = await fetch(`${gw.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { influxdb: { ok: false } } });
  });
});
