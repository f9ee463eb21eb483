/**
 * Persistent sessions of clients that went away are kept for MQTT_SESSION_EXPIRY_S, and client
 * ids cost nothing to make up: past MQTT_MAX_AWAY_SESSIONS away, the one away longest is removed
 * at once (counted), so a stream of made-up persistent clients cannot grow the broker's memory
 * without bound. Real clients, a real gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnectMqtt, type RawClient } from '../helpers/abuse.js';
import { metric } from '../helpers/auth.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ env: { MQTT_MAX_AWAY_SESSIONS: '3' } });
});
afterAll(async () => {
  await gw?.stop();
});

describe('persistent sessions of absent clients', () => {
  it('keeps at most MQTT_MAX_AWAY_SESSIONS: the one away longest is removed when one more leaves', async () => {
    for (let i = 1; i <= 5; i++) {
      const c = await connect(gw.mqttUrl, { clientId: `away-${i}`, clean: false });
      await c.subscribeAsync(`commands/hq/away${i}/#`, { qos: 1 });
      await c.endAsync();
    }
    await waitFor(async () => (await metric(gw.httpUrl, 'gateway_sessions_evicted_total')) === 2, 'two sessions evicted');
    // Back, and kept connected while the others are asked (one leaving again would count as away).
    const present: Record<string, boolean> = {};
    const back: RawClient[] = [];
    try {
      for (const i of [1, 2, 3, 5]) {
        const { client, sessionPresent } = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: `away-${i}`, clean: false });
        back.push(client);
        present[`away-${i}`] = sessionPresent;
      }
    } finally {
      for (const c of back) c.destroy();
    }
    expect(present).toEqual({ 'away-1': false, 'away-2': false, 'away-3': true, 'away-5': true });
  });
});
