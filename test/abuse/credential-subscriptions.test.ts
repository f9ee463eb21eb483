/**
 * Subscriptions held across connections. MQTT_MAX_SUBSCRIPTIONS(_MANY) bound one client; an
 * outside tester opened 100 connections of one observer credential with 10,000 filters each (all
 * within the per-client and per-credential connection limits): 1,000,000 filters granted, RSS
 * 124 MB → 1.39 GB. Bounded per credential (MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL, admins and
 * anonymous clients excepted) and in all (MQTT_MAX_SUBSCRIPTIONS_TOTAL): the filters beyond get
 * SUBACK 0x80, counted and logged, and a client's filters free their places when it leaves.
 * Scaled down: the limits are set small here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { subscribeCodes } from '../helpers/auth.js';
import { startGatewayProcess, type GatewayUnderTest } from '../helpers/abuse.js';
import { connect } from '../helpers/mqtt.js';

let gw: GatewayUnderTest | undefined;
const open: MqttClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  await gw?.stop();
  gw = undefined;
});

const PER_CLIENT = 100;
const PER_CREDENTIAL = 120;
const TOTAL = 250;

async function as(name: string, clientId: string, clean = true): Promise<MqttClient> {
  const c = await connect(gw!.mqttUrl, { username: name, password: gw!.secrets[name], clientId, clean });
  open.push(c);
  return c;
}

const filters = (prefix: string): string[] => Array.from({ length: PER_CLIENT }, (_, k) => `${prefix}/${'y'.repeat(40)}${k}/+/z/#`);
const granted = (codes: number[]): number => codes.filter((q) => q !== 0x80).length;

describe('subscriptions across the connections of a credential, and in all', () => {
  it('are bounded: the filters beyond get SUBACK 0x80, counted and logged, and come free when their client leaves', async () => {
    gw = await startGatewayProcess({
      credentials: [
        { name: 'graf', role: 'observer' },
        { name: 'ops', role: 'admin' },
      ],
      env: { MQTT_MAX_SUBSCRIPTIONS_MANY: String(PER_CLIENT), MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL: String(PER_CREDENTIAL), MQTT_MAX_SUBSCRIPTIONS_TOTAL: String(TOTAL) },
    });
    // Three connections of one observer, each within its own limit: 120 of the 300 filters are granted.
    const graf: MqttClient[] = [];
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      graf.push(await as('graf', `graf:${i}`, i !== 1));
      codes.push(...(await subscribeCodes(graf[i]!, filters(`x${i}`))));
    }
    expect(granted(codes)).toBe(PER_CREDENTIAL);
    expect(await gw.metric('gateway_refusals_total', { reason: 'credential_subscriptions' })).toBe(3 * PER_CLIENT - PER_CREDENTIAL);
    const line = gw.logs.find((l) => l.msg === 'refused: credential_subscriptions');
    expect(line?.['code']).toBe('GW_ERR_LIMIT');
    expect(JSON.stringify(line)).toContain('MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL');

    // An admin is not held to the per-credential bound, but to the total: 120 + 100 + 30 = 250.
    const ops = [await as('ops', 'ops:0'), await as('ops', 'ops:1')];
    expect(granted(await subscribeCodes(ops[0]!, filters('a0')))).toBe(PER_CLIENT);
    expect(granted(await subscribeCodes(ops[1]!, filters('a1')))).toBe(TOTAL - PER_CREDENTIAL - PER_CLIENT);
    expect(await gw.metric('gateway_refusals_total', { reason: 'total_subscriptions' })).toBe(2 * PER_CLIENT - (TOTAL - PER_CREDENTIAL));

    // The observer's first client (100 filters) leaves, the persistent one (20) too: their places come free.
    await graf[0]!.endAsync();
    await graf[1]!.endAsync();
    const again = await as('graf', 'graf:3');
    expect(granted(await subscribeCodes(again, filters('x3')))).toBe(PER_CLIENT);
    const ops2 = await as('ops', 'ops:2');
    expect(granted(await subscribeCodes(ops2, filters('a2').slice(0, 20)))).toBe(20);
  });

  it('do not keep a device from its command topic when the others fill the total', async () => {
    gw = await startGatewayProcess({
      credentials: [
        { name: 'ops', role: 'admin' },
        { name: 'hvac-f1', role: 'device', device: 'hvac-f1', site: 'hq', zone: 'f1' },
      ],
      env: { MQTT_MAX_SUBSCRIPTIONS_MANY: String(PER_CLIENT), MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL: String(PER_CREDENTIAL), MQTT_MAX_SUBSCRIPTIONS_TOTAL: String(TOTAL) },
    });
    for (let i = 0; i < 3; i++) await subscribeCodes(await as('ops', `ops:${i}`), filters(`a${i}`));
    expect(await gw.metric('gateway_refusals_total', { reason: 'total_subscriptions' })).toBe(3 * PER_CLIENT - TOTAL);
    // The actuator speaks for itself: held to its credential's bound, not to the total the admin filled.
    const hvac = await as('hvac-f1', 'hvac-f1');
    expect(granted(await subscribeCodes(hvac, ['commands/hq/f1/hvac']))).toBe(1);
    expect(await gw.metric('gateway_refusals_total', { reason: 'total_subscriptions' })).toBe(3 * PER_CLIENT - TOTAL);
  });
});
