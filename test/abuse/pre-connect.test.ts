/**
 * Issue 15, situation 7 — sockets that never send CONNECT. Access.admit (gateway/broker/
 * access.ts) counts every open TCP/WebSocket connection against MAX_CONNECTIONS from the
 * moment it is accepted, before anything is known about it, and Aedes waits 30 s
 * (connectTimeout, its default) for the CONNECT. So connections that never send one, opened
 * faster than they expire and needing no credentials, fill MAX_CONNECTIONS and a device with a
 * valid password is refused.
 *
 * Scaled down from the issue (10,000 = the default MAX_CONNECTIONS): MAX_CONNECTIONS=50 and 50
 * idle sockets. Wanted: MAX_CONNECTIONS counts authenticated clients; connections not yet
 * authenticated have their own caps (per address and in total) and a CONNECT deadline of a few
 * seconds (MQTT_CONNECT_TIMEOUT_MS, set short here), after which they are closed and counted.
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { metricAs } from '../helpers/abuse.js';
import { addCredentials, connectOutcome } from '../helpers/auth.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rawConnect, type RawConnection } from '../helpers/raw-mqtt.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway | undefined;
// Registered before the afterEach below, so it runs after it (hooks run last first): the gateway stops before its DATA_DIR goes.
const tempDir = useTempDirs('gw-abuse-preconnect-');
const idle: RawConnection[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const c of idle.splice(0)) c.socket.destroy();
  for (const ws of sockets.splice(0)) ws.terminate();
  await gw?.stop();
  gw = undefined;
});

const MAX_CONNECTIONS = 50;

describe('connections that never send CONNECT', () => {
  it('neither take the places of authenticated clients nor stay open past a short CONNECT deadline', async () => {
    const dataDir = await tempDir();
    const secrets = await addCredentials(dataDir, [
      { name: 't-1', role: 'device', device: 't-1', site: 'hq', zone: 'f1' },
      // Reads /metrics (which is to require credentials once they exist).
      { name: 'ops', role: 'admin' },
    ]);
    gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1', MAX_CONNECTIONS: String(MAX_CONNECTIONS), MQTT_CONNECT_TIMEOUT_MS: '2000' } });

    // As many bare TCP connections as MAX_CONNECTIONS, from one address, no credentials, no bytes.
    let closedByGateway = 0;
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const c = await rawConnect(gw.running.ports.mqtt);
      void c.closed.then(() => closedByGateway++);
      idle.push(c);
    }

    // A device with the right secret, accepted after all of them: it gets in.
    expect(await connectOutcome(gw.mqttUrl, { username: 't-1', password: secrets['t-1'], clientId: 't-1' })).toEqual({ connected: true });

    // The idle ones are closed by the gateway at the CONNECT deadline (Aedes' default is 30 s), and counted.
    await waitFor(() => closedByGateway === MAX_CONNECTIONS, 'the gateway to close every idle connection', 12_000);
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'connect_timeout' }, { name: 'ops', secret: secrets['ops']! })).toBe(MAX_CONNECTIONS);
  });
});

/**
 * The same on the WebSocket port: an adversarial run held 5,000 idle TCP sockets from one
 * address on MQTT_WS_PORT for ~25–30 s (Node's HTTP server checks its timeouts every 30 s),
 * none counted as pending, none refused. The guard saw a socket only after its upgrade.
 * Wanted: the pending limits and the CONNECT deadline apply from the TCP connection on, the
 * upgrade included, and a socket stays pending until its CONNECT over the WebSocket authenticates.
 */
describe('connections to the WebSocket port that never send CONNECT', () => {
  it('are limited as pending, closed at the CONNECT deadline (upgraded or not), and counted', async () => {
    const dataDir = await tempDir();
    const PER_ADDRESS = 10;
    gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1', MQTT_MAX_PENDING_PER_ADDRESS: String(PER_ADDRESS), MQTT_MAX_PENDING_CONNECTIONS: '100', MQTT_CONNECT_TIMEOUT_MS: '1500' } });
    const port = gw.running.ports.ws;

    // Half upgraded to a WebSocket (then silent), half bare TCP that sends nothing.
    const upgraded: Promise<void>[] = [];
    for (let i = 0; i < PER_ADDRESS / 2; i++) {
      const ws = new WebSocket(gw.wsUrl, 'mqtt');
      upgraded.push(new Promise((resolve) => ws.once('open', () => resolve())));
      sockets.push(ws);
    }
    await Promise.all(upgraded);
    let closedByGateway = 0;
    for (let i = 0; i < PER_ADDRESS / 2; i++) {
      const c = await rawConnect(port);
      void c.closed.then(() => closedByGateway++);
      idle.push(c);
    }
    await waitFor(async () => (await metricAs(gw!.httpUrl, 'gateway_pending_connections')) === PER_ADDRESS, 'every socket to count as pending');

    // Beyond the per-address limit: closed at once, counted.
    const refused: RawConnection[] = [];
    for (let i = 0; i < 5; i++) refused.push(await rawConnect(port));
    idle.push(...refused);
    await Promise.all(refused.map((c) => c.closed));
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'pending_connections' })).toBe(5);

    // At the deadline (not Node's 30 s timeout check), all closed and counted once each.
    const wsClosed = sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    await waitFor(() => closedByGateway === PER_ADDRESS / 2, 'the gateway to close the bare sockets', 10_000);
    await Promise.race([Promise.all(wsClosed), new Promise((_, reject) => setTimeout(() => reject(new Error('upgraded sockets still open')), 10_000))]);
    await waitFor(async () => (await metricAs(gw!.httpUrl, 'gateway_refusals_total', { reason: 'connect_timeout' })) === PER_ADDRESS, 'a connect_timeout per idle socket');
    expect(await metricAs(gw.httpUrl, 'gateway_pending_connections')).toBe(0);

    // A real client over WebSocket gets in once the places are free, and is no longer pending once authenticated.
    const client = await mqtt.connectAsync(gw.wsUrl, { clientId: 'ws-ok', reconnectPeriod: 0 });
    expect(client.connected).toBe(true);
    expect(await metricAs(gw.httpUrl, 'gateway_pending_connections')).toBe(0);
    await client.endAsync();
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'connect_timeout' })).toBe(PER_ADDRESS);
  });
});
