/**
 * Persistent sessions away keep their subscriptions, and each filter kept costs memory (~1 KB in
 * Aedes' memory store): MQTT_MAX_AWAY_SESSIONS alone lets 100,000 made-up client ids keep up to
 * 100 filters each. Past MQTT_MAX_AWAY_SUBSCRIPTIONS filters held by the sessions away together,
 * the session away longest is removed (counted, said). Real clients, a real gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnectMqtt, type RawClient } from '../helpers/abuse.js';
import { metric } from '../helpers/auth.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ env: { MQTT_MAX_AWAY_SUBSCRIPTIONS: '10' } });
});
afterAll(async () => {
  await gw?.stop();
});

describe('the filters of persistent sessions away', () => {
  it('stay within MQTT_MAX_AWAY_SUBSCRIPTIONS: the session away longest goes when one more leaves with its filters', async () => {
    // Four sessions of four filters each leave in turn: 16 filters, 10 allowed.
    for (let i = 1; i <= 4; i++) {
      const c = await connect(gw.mqttUrl, { clientId: `subs-${i}`, clean: false });
      for (let f = 1; f <= 4; f++) await c.subscribeAsync(`commands/hq/subs${i}-${f}/#`, { qos: 1 });
      await c.endAsync();
    }
    await waitFor(async () => (await metric(gw.httpUrl, 'gateway_sessions_evicted_total', { reason: 'away_subscriptions' })) === 2, 'two sessions evicted for their filters');
    expect(await metric(gw.httpUrl, 'gateway_sessions_evicted_total', { reason: 'away_sessions' })).toBe(0);
    const said = gw.logs.filter((l) => String(l['msg']).includes('MQTT_MAX_AWAY_SUBSCRIPTIONS'));
    expect(said[0]).toMatchObject({ level: 40, clientId: 'subs-1', reason: 'away_subscriptions', filters: 4 });
    const present: Record<string, boolean> = {};
    const back: RawClient[] = [];
    try {
      for (const i of [1, 2, 3, 4]) {
        const { client, sessionPresent } = await rawConnectMqtt(gw.running.ports.mqtt, { clientId: `subs-${i}`, clean: false });
        back.push(client);
        present[`subs-${i}`] = sessionPresent;
      }
    } finally {
      for (const c of back) c.destroy();
    }
    expect(present).toEqual({ 'subs-1': false, 'subs-2': false, 'subs-3': true, 'subs-4': true });
  });
});
