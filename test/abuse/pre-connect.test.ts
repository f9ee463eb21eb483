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
import { afterEach, describe, expect, it } from 'vitest';
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
afterEach(async () => {
  for (const c of idle.splice(0)) c.socket.destroy();
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
