/**
 * Zigbee2MQTT says what each device is: its retained `<base>/bridge/devices` lists every device
 * with the exposes of its definition (a plug's `switch`, a TRV's `climate`, a bulb's `light`, per
 * endpoint where it has several). A plug that drives a window air conditioner, mapped as a zone's
 * HVAC, is switched on and off from the gateway's start, before it has reported anything: not sent
 * a `system_mode` it ignores. A new bridge/devices (a device renamed or removed) replaces what the
 * last one said. And bridge/devices is large (KBs a device): read up to 4 MiB, refused past that.
 *
 * Real gateway, real InfluxDB, real MQTT clients as the bridge and its devices; the payload is
 * what Zigbee2MQTT publishes (test/fixtures/native/zigbee2mqtt-bridge-devices.ts).
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { bridgeDevices, bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import type { TestGateway } from '../helpers/gateway.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { count } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let bridge: MqttClient;
let sensor: MqttClient;
let sets: { messages: Received[]; next: (match?: (m: Received) => boolean) => Promise<Received> };
let letters: { messages: Received[]; next: (match?: (m: Received) => boolean, timeoutMs?: number) => Promise<Received> };
let readingNo = 0;

const bridgeMessages = () => count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt', outcome: 'recognised' });

/** Publishes bridge/devices as the bridge does (retained) and waits until the gateway has taken it in. */
async function publishDevices(payload: string): Promise<void> {
  const before = await bridgeMessages();
  const dead = letters.messages.length;
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', payload, { qos: 1, retain: true });
  await waitFor(async () => (await bridgeMessages()) > before || letters.messages.length > dead, 'bridge/devices taken in');
}

/**
 * A reading in the zone, and the native command it brings to the device: hot, the plug-cool rule
 * commands the zone's hvac `{"mode":"cool","setpoint":22}`; cool, plug-cool-done `{"mode":"off"}`.
 */
async function commandFor(zone: string, value: number, name: string): Promise<string> {
  const topic = `zigbee2mqtt/${name}/set`;
  const before = sets.messages.filter((m) => m.topic === topic).length;
  await sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value, id: `${zone}-${++readingNo}` }), { qos: 1 });
  let n = 0;
  return (await sets.next((m) => m.topic === topic && ++n > before)).payload;
}

/** `count` copies of the plug's entry under other names: a bridge/devices of a large network. */
function withPlugs(count: number): Record<string, unknown>[] {
  const devices = bridgeDevices();
  const plug = devices.find((d) => d['friendly_name'] === 'window_ac_plug')!;
  for (let i = 0; i < count; i++) devices.push({ ...plug, friendly_name: `plug_${i}`, ieee_address: `0x842e14fffe${i.toString(16).padStart(6, '0')}` });
  return devices;
}

beforeAll(async () => {
  gw = await startWithMap(
    {
      actuators: {
        'hq/z1/hvac': 'zigbee2mqtt:window_ac_plug',
        'hq/z2/hvac': 'zigbee2mqtt:living_trv',
        'hq/z3/hvac': { device: 'zigbee2mqtt:hall_2gang', channel: 'l2' },
        'hq/z4/hvac': 'zigbee2mqtt:bedroom_trv',
        'hq/z5/hvac': 'zigbee2mqtt:desk_lamp',
        'hq/z6/hvac': 'zigbee2mqtt:study_plug',
        'hq/z7/hvac': 'zigbee2mqtt:plug_499',
        'hq/z8/hvac': 'zigbee2mqtt:plug_498',
        'hq/z9/hvac': { device: 'zigbee2mqtt:living_trv', as: 'switch' },
      },
    },
    // MAX_PACKET_BYTES above bridge/devices' own limit, so that limit is the one met.
    { clock: new ManualClock(Date.now()), rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug'), env: { STATS_INTERVAL_MS: '0', MAX_PACKET_BYTES: String(8 * 1024 * 1024) } },
  );
  const watcher = await connect(gw.mqttUrl, { clientId: 'z2m-devices' });
  sets = await collect(watcher, 'zigbee2mqtt/+/set');
  letters = await collect(watcher, 'gateway/deadletter');
  sensor = await connect(gw.mqttUrl, { clientId: 'z2m-sensors' });
  bridge = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge' });
  // What Zigbee2MQTT publishes at its start (lib/mqtt.ts, lib/extension/bridge.ts): state, then its devices.
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await publishDevices(bridgeDevicesPayload());
  gw.logs.length = 0;
});
afterAll(async () => {
  await bridge?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('what Zigbee2MQTT says a device is, before the device says anything', () => {
  it('a plug (a switch expose) that has never reported is switched on for cool, not sent a system_mode', async () => {
    expect(await commandFor('z1', 29.5, 'window_ac_plug')).toBe('{"state":"ON"}');
  });

  it('a TRV (a climate expose) takes a mode, also when its other exposes are switches (TuYa TS0601), among those its system_mode lists', async () => {
    // Heat, auto or off: told to cool, it is switched off (no setpoint: nothing to hold).
    expect(await commandFor('z4', 29.5, 'bedroom_trv')).toBe('{"system_mode":"off"}');
    // Heat only (Danfoss Ally): not even off; turned down to its heating setpoint's value_min, no system_mode.
    expect(await commandFor('z2', 29.5, 'living_trv')).toBe('{"occupied_heating_setpoint":5}');
    expect(gw.logs.filter((l) => l['code'] === 'GW_ERR_NATIVE_COMMAND' && l['target'] === 'hq/z2/hvac')).toEqual([]);
  });

  it('a channel is its endpoint (a 2-gang switch’s l2), and a light is switched', async () => {
    expect(await commandFor('z3', 29.5, 'hall_2gang')).toBe('{"state_l2":"ON"}');
    expect(await commandFor('z5', 29.5, 'desk_lamp')).toBe('{"state":"ON"}');
  });

  it('the map’s as: still says it', async () => {
    expect(await commandFor('z9', 29.5, 'living_trv')).toBe('{"state":"ON"}');
  });

  it('a new bridge/devices replaces the last: a plug renamed is known by its new name, its old name no longer', async () => {
    const devices = bridgeDevices().map((d) => (d['friendly_name'] === 'window_ac_plug' ? { ...d, friendly_name: 'study_plug' } : d));
    await publishDevices(bridgeDevicesPayload(devices));
    expect(await commandFor('z6', 29.5, 'study_plug')).toBe('{"state":"ON"}');
    // The old name: nothing says what it is any more (it never reported), so a thermostat, as before the bridge said.
    expect(await commandFor('z1', 18.5, 'window_ac_plug')).toBe('{"system_mode":"off"}');
  });

  it('reads a bridge/devices of a large network (over 1 MiB), and refuses one over 4 MiB with a dead letter, keeping what it knew', async () => {
    const large = bridgeDevicesPayload(withPlugs(500));
    expect(large.length).toBeGreaterThan(1024 * 1024);
    await publishDevices(large);
    expect(await commandFor('z7', 29.5, 'plug_499')).toBe('{"state":"ON"}');

    const huge = bridgeDevicesPayload(withPlugs(2_000));
    expect(huge.length).toBeGreaterThan(4 * 1024 * 1024);
    await publishDevices(huge);
    const letter = await letters.next((m) => m.json<{ topic: string }>().topic === 'zigbee2mqtt/bridge/devices');
    expect(letter.json<{ reason: string; detail: string }>()).toMatchObject({ reason: 'payload_too_large', detail: expect.stringContaining('bridge/devices') as unknown });
    expect(await commandFor('z8', 29.5, 'plug_498')).toBe('{"state":"ON"}');
  });
});
