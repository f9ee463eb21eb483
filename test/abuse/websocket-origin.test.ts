/**
 * MQTT over WebSocket from a web page elsewhere (an adversarial tester): while no credentials
 * exist, anonymous clients on loopback are admins, and browsers let any page open
 * ws://127.0.0.1:8083 — so any site the operator visited could disarm zones, fake smoke and read
 * the bus. Such a page names itself (Origin); a page rebound to 127.0.0.1 by DNS names its own
 * host (Host). Refused with 403, counted and logged; clients that are not browsers (no Origin) and
 * pages on this machine connect as before; once credentials exist a page must know one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { addCredentials, metric } from '../helpers/auth.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const gateways: TestGateway[] = [];
const dirs: string[] = [];

/** The HTTP status a WebSocket upgrade to `url` gets with these headers (101 when it opens). */
function upgrade(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, ['mqtt'], { headers });
    socket.once('open', () => {
      resolve(101);
      socket.close();
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    socket.once('error', () => resolve(0));
  });
}

afterAll(async () => {
  for (const gw of gateways) await gw.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('a WebSocket while anonymous clients are admitted (no credentials yet)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
    gateways.push(gw);
  });

  it('refuses a web page from elsewhere, and one rebound to 127.0.0.1 by DNS, counted', async () => {
    const port = new URL(gw.wsUrl).port;
    expect(await upgrade(gw.wsUrl, { Origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade(gw.wsUrl, { Origin: `http://rebound.example:${port}`, Host: `rebound.example:${port}` })).toBe(403);
    expect(await upgrade(gw.wsUrl, { Origin: 'http://localhost:3000', Host: `attacker.example:${port}` })).toBe(403);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'cross_origin' })).toBe(3);
    await waitFor(() => gw.logs.some((l) => l['reason'] === 'cross_origin' && JSON.stringify(l).includes('https://evil.example')), 'the refusal logged with the page it came from');
  });

  it('admits clients that are not browsers and pages on this machine, and they work', async () => {
    expect(await upgrade(gw.wsUrl, {})).toBe(101);
    expect(await upgrade(gw.wsUrl, { Origin: 'http://localhost:3000' })).toBe(101);
    const page = await connect(gw.wsUrl, { clientId: 'local-page', wsOptions: { headers: { Origin: 'http://127.0.0.1:8080' } } });
    await page.subscribeAsync('alerts/#');
    await page.endAsync();
  });
});

describe('a WebSocket once credentials exist', () => {
  it('admits a page from elsewhere: it must know a credential, as any client', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-ws-origin-'));
    dirs.push(dataDir);
    const secrets = await addCredentials(dataDir, [{ name: 'dash', role: 'observer' }]);
    const gw = await startGateway({ dataDir });
    gateways.push(gw);
    expect(await upgrade(gw.wsUrl, { Origin: 'https://dashboard.example' })).toBe(101);
    const page = await connect(gw.wsUrl, { clientId: 'dash', username: 'dash', password: secrets['dash'], wsOptions: { headers: { Origin: 'https://dashboard.example' } } });
    await page.endAsync();
  });
});
