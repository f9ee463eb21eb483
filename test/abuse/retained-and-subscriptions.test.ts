/**
 * Issue 15, situation 3 — retained messages and subscriptions. A device may publish under its
 * own `sensors/<site>/<zone>/<device>/` any made-up kind: each such message is a dead letter
 * (unknown_kind), yet Aedes still retains it (the retain flag is honoured for anything
 * authorizePublish lets through), with no byte budget, and hands all of it to every new
 * subscriber of a matching filter. And a device may subscribe to any number of filters within
 * its own `commands/<site>/<zone>/#` scope.
 *
 * Scaled down from the issue (1,500 × 200 kB retained; 200,000 subscriptions): 500 × 200 kB
 * retained, 60,000 subscriptions (persistent session). Bounded (only valid messages retained,
 * a per-client and a total byte budget; MQTT_MAX_SUBSCRIPTIONS per client; see
 * docs/findings-15.md) the RSS stays well under the bounds below.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { subscribeCodes } from '../helpers/auth.js';
import { mib, MiB, note, startGatewayProcess, warmUp, type GatewayUnderTest } from '../helpers/abuse.js';
import { collect, connect } from '../helpers/mqtt.js';

let gw: GatewayUnderTest | undefined;
const open: MqttClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  await gw?.stop();
  gw = undefined;
});

async function as(name: string, options: { clean?: boolean } = {}): Promise<MqttClient> {
  const c = await connect(gw!.mqttUrl, { username: name, password: gw!.secrets[name], clientId: name, ...options });
  open.push(c);
  return c;
}

const RETAINED = 500;
const RETAINED_BYTES = 200_000;
const RETAINED_GROWTH_BOUND = 40 * MiB;

const SUBSCRIPTIONS = 60_000;
const FILTERS_PER_SUBSCRIBE = 200;
const SUBSCRIPTIONS_GROWTH_BOUND = 24 * MiB;

describe('retained messages', () => {
  it('are kept only for valid messages, within a byte budget: dead letters are not retained nor handed to new subscribers', async () => {
    gw = await startGatewayProcess({
      credentials: [
        { name: 't-r', role: 'device', device: 't-r', site: 'hq', zone: 'f1' },
        { name: 'watcher', role: 'observer' },
      ],
    });
    await warmUp(gw);
    const before = await gw.settledRss();
    const device = await as('t-r');
    const payload = Buffer.alloc(RETAINED_BYTES, 0x62);
    for (let i = 0; i < RETAINED; i++) {
      // Its own topic, a made-up kind: a dead letter (unknown_kind) that today is retained all the same.
      await device.publishAsync(`sensors/hq/f1/t-r/madeup${i}`, payload, { qos: 1, retain: true });
    }
    // The one message here that should be retained: a valid status.
    await device.publishAsync('devices/t-r/status', 'online', { qos: 1, retain: true });

    const after = await gw.settledRss();
    note('retained', { before: mib(before), after: mib(after), growth: mib(after - before) });
    expect(after - before, `RSS ${mib(before)} → ${mib(after)} after ${RETAINED} retained dead letters of ${RETAINED_BYTES} bytes`).toBeLessThan(RETAINED_GROWTH_BOUND);

    // A new subscriber to everything is handed the retained messages in the order they were kept:
    // the first is the status, not a dead letter.
    const watcher = await as('watcher');
    const seen = await collect(watcher, '#');
    const first = await seen.next();
    expect(first.topic).toBe('devices/t-r/status');
    expect(await gw.metric('gateway_retained_refused_total')).toBeGreaterThanOrEqual(RETAINED);
  });
});

describe('subscriptions', () => {
  it('are limited per client: beyond the limit a filter is refused (SUBACK 0x80), the client stays, memory stays bounded', async () => {
    gw = await startGatewayProcess({ credentials: [{ name: 't-s', role: 'device', device: 't-s', site: 'hq', zone: 'f1' }] });
    await warmUp(gw);
    const before = await gw.settledRss();
    const device = await as('t-s', { clean: false });
    const codes: number[] = [];
    for (let i = 0; i < SUBSCRIPTIONS; i += FILTERS_PER_SUBSCRIBE) {
      // Every filter within the device's own scope, commands/hq/f1/#.
      const filters = Array.from({ length: FILTERS_PER_SUBSCRIBE }, (_, j) => `commands/hq/f1/x${i + j}`);
      codes.push(...(await subscribeCodes(device, filters)));
    }
    const after = await gw.settledRss();
    const granted = codes.filter((c) => c !== 128).length;
    note('subscriptions', { before: mib(before), after: mib(after), growth: mib(after - before), granted });
    expect(after - before, `RSS ${mib(before)} → ${mib(after)} after ${granted} of ${SUBSCRIPTIONS} subscriptions granted`).toBeLessThan(SUBSCRIPTIONS_GROWTH_BOUND);
    expect(granted).toBeLessThanOrEqual(1000);
    expect(device.connected).toBe(true);
    expect(await gw.metric('gateway_refusals_total', { reason: 'too_many_subscriptions' })).toBeGreaterThan(0);
  });
});
