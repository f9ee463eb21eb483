/**
 * MQTT over TLS and WebSocket over TLS, with a certificate this test makes with Debian's
 * openssl, and real clients (mqtt.js, mosquitto_pub) that trust only that certificate.
 */
import { execFileSync } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { waitFor } from '../helpers/wait.js';
import { addCredentials, connectOutcome, metric, run } from '../helpers/auth.js';

let gw: TestGateway;
let dir: string;
let ca: Buffer;
let secret: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-tls-'));
  // A self-signed certificate for 127.0.0.1 and localhost, valid for a day.
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  ca = await readFile(join(dir, 'cert.pem'));
  ({ 't-tls': secret } = (await addCredentials(dir, [{ name: 't-tls', role: 'device', device: 't-tls', site: 'hq', zone: 'sec' }])) as { 't-tls': string });
  gw = await startGateway({
    dataDir: dir,
    // METRICS_PUBLIC: the refusals are read from /metrics without a credential (a Prometheus without basic_auth).
    env: { METRICS_PUBLIC: 'true', BIND_HOST: '127.0.0.1', TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem'), MQTT_TLS_PORT: '0', MQTT_WSS_PORT: '0', HTTPS_PORT: '0' },
  });
});
afterAll(async () => {
  await gw?.stop();
});

const tlsPort = () => gw.running.ports['mqtts']!;
const auth = () => ({ username: 't-tls', password: secret, clientId: 't-tls', reconnectPeriod: 0, connectTimeout: 5000 });

async function stored(id: string): Promise<void> {
  await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE event_id = '${id}'`).then((r) => r.length === 1), `${id} in InfluxDB`);
}

describe('TLS', () => {
  it('serves MQTT over TLS on MQTT_TLS_PORT to a client that trusts the certificate', async () => {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort()}`, { ...auth(), ca });
    await client.publishAsync('sensors/hq/sec/t-tls/temperature', JSON.stringify({ value: 20, id: 'over-tls' }), { qos: 1 });
    await client.endAsync();
    await stored('over-tls');
  });

  it('serves MQTT over secure WebSocket on MQTT_WSS_PORT at /mqtt', async () => {
    const client = await mqtt.connectAsync(`wss://localhost:${gw.running.ports['wss']}/mqtt`, { ...auth(), ca });
    await client.publishAsync('sensors/hq/sec/t-tls/temperature', JSON.stringify({ value: 21, id: 'over-wss' }), { qos: 1 });
    await client.endAsync();
    await stored('over-wss');
  });

  it('works with mosquitto_pub --cafile', async () => {
    const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tlsPort()), '--cafile', join(dir, 'cert.pem'), '-u', 't-tls', '-P', secret, '-i', 't-tls', '-q', '1', '-t', 'sensors/hq/sec/t-tls/temperature', '-m', '{"value":22,"id":"mosq-tls"}']);
    expect(pub).toMatchObject({ code: 0, stderr: '' });
    await stored('mosq-tls');
  });

  it('fails plain TCP to the TLS port (mqtt.js and mosquitto_pub), counting the failed handshakes', async () => {
    const before = await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'tls_handshake' });
    expect(await connectOutcome(`mqtt://127.0.0.1:${tlsPort()}`, auth())).toEqual({ connected: false, error: 'closed before CONNACK' });
    const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tlsPort()), '-u', 't-tls', '-P', secret, '-i', 't-tls', '-t', 'sensors/hq/sec/t-tls/temperature', '-m', '{"value":23,"id":"plain-to-tls"}']);
    expect(pub.code).not.toBe(0);
    await waitFor(async () => (await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'tls_handshake' })) >= before + 2, 'two failed handshakes counted');
    expect(gw.logs.find((l) => l['reason'] === 'tls_handshake')).toMatchObject({ code: 'GW_ERR_PROTOCOL', address: '127.0.0.1' });
  });

  it('serves the HTTP API over HTTPS on HTTPS_PORT, with the same routes and the same credentials', async () => {
    const port = gw.running.ports['https'];
    expect(port).toBeGreaterThan(0);
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsGet({ host: '127.0.0.1', port, path, ca, servername: 'localhost', headers }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
    expect(await get('/healthz')).toEqual({ status: 200, body: '{"status":"ok"}' });
    expect((await get('/metrics')).body).toContain('gateway_refusals_total');
    // A route that asks for credentials asks for them over HTTPS too.
    expect((await get('/api/zones')).status).toBe(401);
    // And a client that does not trust the certificate gets nowhere; plain HTTP to the port neither, counted.
    await expect(new Promise((resolve, reject) => httpsGet({ host: '127.0.0.1', port, path: '/healthz' }, resolve).on('error', reject))).rejects.toThrow(/self[- ]signed/i);
    const before = await metric(gw.httpUrl, 'gateway_http_refusals_total', { reason: 'tls_handshake' });
    await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    await waitFor(async () => (await metric(gw.httpUrl, 'gateway_http_refusals_total', { reason: 'tls_handshake' })) > before, 'the plain request to the HTTPS port counted');
  });

  it('is refused by a client that does not trust the certificate', async () => {
    await expect(mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort()}`, auth())).rejects.toThrow(/self[- ]signed/i);
  });
});

describe('TLS settings', () => {
  it('stops the gateway at start with GW_ERR_TLS naming the file when the certificate cannot be read', async () => {
    await expect(startGateway({ env: { TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: join(dir, 'key.pem') } })).rejects.toThrow(/GW_ERR_TLS: TLS_CERT_FILE=.*missing\.pem: ENOENT/);
  });

  it('refuses a key that does not belong to the certificate, and only one of the two files', async () => {
    const other = join(dir, 'other-key.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', other], { stdio: 'ignore' });
    await expect(startGateway({ env: { TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: other } })).rejects.toThrow(/GW_ERR_TLS/);
    await expect(startGateway({ env: { TLS_CERT_FILE: join(dir, 'cert.pem') } })).rejects.toThrow(/GW_ERR_TLS: set both TLS_CERT_FILE and TLS_KEY_FILE/);
    await writeFile(join(dir, 'garbage.pem'), 'not a certificate');
    await expect(startGateway({ env: { TLS_CERT_FILE: join(dir, 'garbage.pem'), TLS_KEY_FILE: join(dir, 'key.pem') } })).rejects.toThrow(/GW_ERR_TLS/);
  });
});
