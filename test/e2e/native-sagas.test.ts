/**
 * A command's saga does not care who reports the state: a native actuator (a Tasmota relay the
 * device map ties to a site/zone/actuator) answers in its firmware's own words, the devices layer
 * turns that into the same `actuatorState` event, and the command is confirmed — or, ignored,
 * resent and in the end `actuator_unresponsive`, on a manual clock.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let clock: ManualClock;
let firmware: MqttClient;
let sensor: MqttClient;

/** Moves the gateway's clock on, letting the rules finish each timer's run before the next. */
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);

async function statuses(zone: string): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = '${zone}' AND "actuator" = 'ventilation'`)).map((r) => String(r['status']));
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startWithMap(
    {
      devices: { 'tasmota:relay_a': { site: 'nx', zone: 'a' }, 'tasmota:relay_b': { site: 'nx', zone: 'b' } },
      actuators: { 'nx/a/ventilation': { device: 'tasmota:relay_a', channel: 1 }, 'nx/b/ventilation': { device: 'tasmota:relay_b', channel: 1 } },
    },
    { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native'), env: { STATS_INTERVAL_MS: '0' } },
  );
  firmware = await connect(gw.mqttUrl, { clientId: 'DVES_RELAYS' });
  sensor = await connect(gw.mqttUrl, { clientId: 'nx-sensor' });
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a command to a native actuator', () => {
  it('is confirmed by the state its firmware reports', async () => {
    const relay = await collect(firmware, 'cmnd/relay_a/#');
    await firmware.publishAsync('stat/relay_a/POWER1', 'OFF', { qos: 1 });
    await waitFor(() => gw.gateway.rules.runtime.commands.reports('nx/a/ventilation'), 'the relay’s first report');
    await sensor.publishAsync('sensors/nx/a/t1/temperature', JSON.stringify({ value: 30, id: 'nx-hot-a' }), { qos: 1 });
    expect((await relay.next((m) => m.topic === 'cmnd/relay_a/POWER1')).payload).toBe('ON');
    await firmware.publishAsync('stat/relay_a/POWER1', 'ON', { qos: 1 });
    await waitFor(async () => (await statuses('a')).includes('confirmed'), 'the confirmation in InfluxDB');
    expect(await statuses('a')).toEqual(['sent', 'confirmed']);
  });

  it('is resent in its firmware’s words when ignored, then actuator_unresponsive', async () => {
    const relay = await collect(firmware, 'cmnd/relay_b/#');
    const warnings = await collect(sensor, 'alerts/nx/warning');
    await firmware.publishAsync('stat/relay_b/POWER1', 'OFF', { qos: 1 });
    await waitFor(() => gw.gateway.rules.runtime.commands.reports('nx/b/ventilation'), 'the relay’s first report');
    await sensor.publishAsync('sensors/nx/b/t1/temperature', JSON.stringify({ value: 30, id: 'nx-hot-b' }), { qos: 1 });
    await relay.next((m) => m.topic === 'cmnd/relay_b/POWER1');
    await advance(10_000);
    await advance(20_000);
    await advance(40_000);
    expect((await warnings.next()).json()).toMatchObject({ type: 'actuator.unresponsive', data: { zone: 'b' } });
    const sent = await waitFor(() => {
      const on = relay.messages.filter((m) => m.topic === 'cmnd/relay_b/POWER1');
      return on.length >= 3 ? on : undefined;
    }, 'the native command and its two resends');
    expect(sent.map((m) => m.payload)).toEqual(['ON', 'ON', 'ON']);
    await waitFor(async () => (await statuses('b')).includes('failed'), 'the failure in InfluxDB');
    expect(await statuses('b')).toEqual(['sent', 'retried', 'retried', 'failed']);
  });
});
