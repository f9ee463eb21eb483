/**
 * HTTP authentication (gateway/http/auth.ts) through a real HttpServer on port 0, with a real
 * credential store: who may read and who may act, Basic and bearer, the challenge a browser
 * answers, the probes always open, /metrics opened only by METRICS_PUBLIC, HTTP_AUTH's modes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../../gateway/broker/credentials.js';
import { LoginGuard } from '../../../gateway/broker/login.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { HttpAuth, type HttpAuthOptions } from '../../../gateway/http/auth.js';
import { HttpServer } from '../../../gateway/http/server.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { count, testMetrics } from '../../helpers/ports.js';

let dir: string;
let store: CredentialStore;
const SECRETS = { grafana: 'observer-secret-1', ops: 'admin-secret-0001', 't-1': 'device-secret-01' } as const;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-http-auth-'));
  store = new CredentialStore(join(dir, 'credentials.json'));
  await store.add({ name: 'grafana', role: 'observer' }, SECRETS.grafana);
  await store.add({ name: 'ops', role: 'admin' }, SECRETS.ops);
  await store.add({ name: 't-1', role: 'device', device: 't-1', site: 'hq', zone: 'f1' }, SECRETS['t-1']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

async function serve(o: Partial<HttpAuthOptions> & { metricsPublic?: boolean; credentials?: CredentialStore } = {}) {
  const log = createLogger('silent');
  const clock = new ManualClock(0);
  const metrics = testMetrics(clock);
  const credentials = o.credentials ?? store;
  const login = new LoginGuard({ store: credentials, backoffAfter: 3, backoffMaxMs: 60_000, unknownBurst: 20, unknownPerMin: 6, maxQueuedChecks: 64, now: () => clock.now() });
  const auth = new HttpAuth({ store: credentials, login, metrics, log, mode: 'auto', host: '127.0.0.1', ...o });
  const http = new HttpServer({ log, host: '127.0.0.1', port: 0, metrics, readiness: () => ({ ready: true, checks: {} }), auth, metricsPublic: o.metricsPublic ?? false });
  http.route('/api/read', (_req, res) => void res.writeHead(200).end('secret data'));
  http.route('/api/act', (_req, res, principal) => void res.writeHead(200).end(`done by ${principal.name}`), 'act');
  const port = await http.start();
  stops.push(() => http.stop());
  const url = `http://127.0.0.1:${port}`;
  return { metrics, url, get: (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers }), post: (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { method: 'POST', headers }) };
}
const basic = (name: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` });

describe('HTTP authentication', () => {
  it('asks for credentials once they exist, with a challenge a browser answers, and gives nothing away', async () => {
    const { get, metrics } = await serve();
    const res = await get('/api/read');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="iot-gateway", charset="UTF-8"');
    // JSON like every other answer.
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ error: expect.stringMatching(/credentials/) });
    expect((await get('/api/read', basic('grafana', 'wrong'))).status).toBe(401);
    expect(await count(metrics, 'gateway_http_refusals_total', { reason: 'unauthenticated' })).toBe(1);
    expect(await count(metrics, 'gateway_http_refusals_total', { reason: 'bad_credentials' })).toBe(1);
  });

  it('lets observer and admin read, only admin act, and no device either', async () => {
    const { get, post } = await serve();
    expect((await get('/api/read', basic('grafana', SECRETS.grafana))).status).toBe(200);
    expect((await get('/api/read', basic('ops', SECRETS.ops))).status).toBe(200);
    expect((await get('/api/read', basic('t-1', SECRETS['t-1']))).status).toBe(403);
    expect((await post('/api/act', basic('grafana', SECRETS.grafana))).status).toBe(403);
    const done = await post('/api/act', basic('ops', SECRETS.ops));
    expect(done.status).toBe(200);
    // The handler knows who acted.
    expect(await done.text()).toBe('done by ops');
  });

  it('refuses an action from another origin, even with the admin credential the browser sends on its own', async () => {
    const { post, url } = await serve();
    expect((await post('/api/act', { ...basic('ops', SECRETS.ops), origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('/api/act', { ...basic('ops', SECRETS.ops), origin: url })).status).toBe(200);
    // No Origin, but the browser says the request comes from another site.
    expect((await post('/api/act', { ...basic('ops', SECRETS.ops), 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post('/api/act', { ...basic('ops', SECRETS.ops), 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });

  it('takes Authorization: Bearer <name>:<secret> as well', async () => {
    const { get } = await serve();
    expect((await get('/api/read', { authorization: `Bearer grafana:${SECRETS.grafana}` })).status).toBe(200);
  });

  it('backs a username off from an address after repeated wrong secrets (429, Retry-After)', async () => {
    const { get } = await serve();
    for (let i = 0; i < 3; i++) expect((await get('/api/read', basic('grafana', `guess-${i}`))).status).toBe(401);
    const res = await get('/api/read', basic('grafana', 'guess-4'));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('60');
  });

  it('keeps /healthz and /readyz open, and /metrics closed unless METRICS_PUBLIC', async () => {
    const closed = await serve();
    expect((await closed.get('/healthz')).status).toBe(200);
    expect((await closed.get('/readyz')).status).toBe(200);
    expect((await closed.get('/metrics')).status).toBe(401);
    expect((await closed.get('/metrics', basic('grafana', SECRETS.grafana))).status).toBe(200);
    const open = await serve({ metricsPublic: true });
    expect((await open.get('/metrics')).status).toBe(200);
    expect((await open.get('/api/read')).status).toBe(401);
  });

  it('asks nothing on loopback while no credentials exist (HTTP_AUTH=auto), and does with HTTP_AUTH=true', async () => {
    const empty = new CredentialStore(join(dir, 'none.json'));
    await empty.load();
    expect((await (await serve({ credentials: empty })).get('/api/read')).status).toBe(200);
    expect((await (await serve({ credentials: empty, mode: 'true' })).get('/api/read')).status).toBe(401);
  });

  it('while no credentials exist, answers only requests addressed to the loopback: a DNS-rebinding page names its own host', async () => {
    const empty = new CredentialStore(join(dir, 'none.json'));
    await empty.load();
    const { url, metrics } = await serve({ credentials: empty });
    // fetch may not set Host: node:http does, as a browser would with the rebound name.
    const send = (method: string, path: string, host: string, origin?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${url}${path}`, { method, headers: { host, ...(origin ? { origin } : {}) } }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await send('POST', '/api/act', 'evil.example:8080', 'http://evil.example:8080');
    expect(rebound.status).toBe(403);
    expect((JSON.parse(rebound.body) as { error: string }).error).toContain('not to "evil.example:8080"');
    expect((await send('GET', '/api/read', 'evil.example')).status).toBe(403);
    expect(await count(metrics, 'gateway_http_refusals_total', { reason: 'forbidden' })).toBe(2);
    for (const host of ['localhost:8080', '127.0.0.1', '[::1]:8080', 'app.localhost', 'LOCALHOST']) expect((await send('GET', '/api/read', host)).status, host).toBe(200);
    expect((await send('POST', '/api/act', 'localhost:8080', 'http://localhost:8080')).status).toBe(200);
  });

  it('asks for credentials beyond loopback even with none configured, and refuses HTTP_AUTH=false there', async () => {
    const empty = new CredentialStore(join(dir, 'none.json'));
    await empty.load();
    const log = createLogger('silent');
    const metrics = testMetrics(new ManualClock(0));
    const login = new LoginGuard({ store: empty, backoffAfter: 3, backoffMaxMs: 1000, unknownBurst: 1, unknownPerMin: 1, maxQueuedChecks: 1 });
    const auth = new HttpAuth({ store: empty, login, metrics, log, mode: 'auto', host: '0.0.0.0' });
    expect(await auth.required()).toBe(true);
    expect(() => new HttpAuth({ store: empty, login, metrics, log, mode: 'false', host: '0.0.0.0' })).toThrow(/GW_ERR_SETTINGS: HTTP_AUTH=false is allowed only on loopback/);
  });
});
