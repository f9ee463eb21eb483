/**
 * Issue 15, situation 6 — HTTP without authentication on every interface. Once credentials
 * exist the gateway binds 0.0.0.0 and MQTT refuses anonymous clients, but the HTTP side
 * (gateway/http/server.ts) has no authentication at all: `/api/zones`, `/live/state` and
 * `/live/events` give anyone the armed zones, door states, alerts and every reading.
 *
 * Wanted: the same credentials over HTTP (Basic, checked by the credential store, its HMAC
 * cache sparing scrypt on every request), required for everything but /healthz and /readyz
 * once credentials exist or the gateway is bound beyond loopback; observer and admin read, a
 * device credential does not; a 401 carries a WWW-Authenticate challenge (how the browser's
 * live page asks). /metrics stays closed unless a setting opens it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCredentials } from '../helpers/auth.js';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
const dirs: string[] = [];
let secrets: Record<string, string>;

const basic = (name: string, secret = secrets[name]!): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` });

/** Status and body of a GET; a stream (the live events) is read only up to its first bytes. */
async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const abort = new AbortController();
  const res = await fetch(`${gw.httpUrl}${path}`, { headers, signal: abort.signal });
  let body = '';
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    const reader = res.body!.getReader();
    const first = await reader.read();
    body = new TextDecoder().decode(first.value);
    abort.abort();
  } else {
    body = await res.text();
  }
  return { status: res.status, headers: res.headers, body };
}

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-abuse-http-'));
  dirs.push(dataDir);
  secrets = await addCredentials(dataDir, [
    { name: 'grafana', role: 'observer' },
    { name: 'ops', role: 'admin' },
    { name: 't-1', role: 'device', device: 't-1', site: 'hq', zone: 'f1' },
  ]);
  // No BIND_HOST: with credentials, every interface (as the issue found it).
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
  // Something worth protecting: an armed zone and an open door.
  const ops = await connect(gw.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'ops' });
  await ops.publishAsync('zones/hq/f1/armed', 'true', { qos: 1 });
  await ops.publishAsync('sensors/hq/f1/door-1/contact', 'true', { qos: 1 });
  await ops.endAsync();
  await waitFor(async () => (await get('/api/zones', basic('ops'))).body.includes('f1') || (await get('/api/zones')).body.includes('f1'), 'the armed zone to be listed');
});
afterAll(async () => {
  await gw?.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('HTTP once credentials exist', () => {
  it('listens beyond loopback', () => {
    expect(gw.running.host).toBe('0.0.0.0');
  });

  it.each(['/api/zones', '/live/state', '/live/events', '/metrics'])('refuses %s without credentials (401 with a challenge), and gives nothing away', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^(Basic|Bearer)\b/);
    expect(res.body).not.toContain('door-1');
    expect(res.body).not.toContain('hq/f1');
  });

  it('refuses a wrong secret (401) and a device credential (403)', async () => {
    expect((await get('/live/state', basic('grafana', 'not-the-secret'))).status).toBe(401);
    expect((await get('/live/state', basic('t-1'))).status).toBe(403);
  });

  it('serves an observer and an admin who give their credentials', async () => {
    const state = await get('/live/state', basic('grafana'));
    expect(state.status).toBe(200);
    expect(state.body).toContain('door-1');
    const zones = await get('/api/zones', basic('ops'));
    expect(zones.status).toBe(200);
    expect(zones.body).toContain('f1');
    const events = await get('/live/events', basic('grafana'));
    expect(events.status).toBe(200);
    expect(events.body).toContain('snapshot');
  });

  // A 404 to a stranger would tell which routes exist (walkthrough: /api/cluster on a single gateway said 404).
  it.each(['/api/cluster', '/no-such-path', '/api/no-such-route', '/live/no-such', '/.env'])('answers %s with 401 without credentials, whether the route exists or not', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^(Basic|Bearer)\b/);
    expect((await get(path, basic('grafana', 'not-the-secret'))).status).toBe(401);
  });

  it('answers an unknown path with 404 to valid credentials', async () => {
    expect((await get('/no-such-path', basic('grafana'))).status).toBe(404);
    expect((await get('/api/cluster', basic('ops'))).status).toBe(404);
  });

  it('keeps /healthz and /readyz open (probes carry no credentials)', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect([200, 503]).toContain((await get('/readyz')).status);
  });
});
