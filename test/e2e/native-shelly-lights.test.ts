/**
 * Shelly Gen2+ dimmers and lights (Pro Dimmer 1PM/2PM, Dimmer Gen3, Plus RGBW PM, Plus Wall
 * Dimmer) have a `light` (or `rgb`, `rgbw`, `cct`) component, no `switch`: the gateway sent them
 * `Switch.Set`, which their firmware answers with an error on `<src>/rpc`
 * (`{"code":404,"message":"No handler for Switch.Set"}`); the light never switched, the error was
 * only counted, and an `actuator_unresponsive` alarm came later. A device whose status shows
 * `light:<n>` (NotifyStatus, NotifyFullStatus, `status/light:<n>`) is sent `Light.Set` (an
 * `rgbw:<n>`: `RGBW.Set`), and its own report confirms the command; an RPC error answer is logged
 * at warn with the device, the error and the command's id.
 *
 * Real gateway, real InfluxDB, a real MQTT client answering as the firmware does (a Light.Set
 * with its result and a NotifyStatus of the changed light; any method it has no component for
 * with the firmware's error); the gateway's clock is manual and moved past the whole saga.
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

const DIMMER = 'shellyprodm1pm-aabbcc001122';
const RGBW = 'shellyplusrgbwpm-aabbcc003344';
const UNKNOWN = 'shellyplusrgbwpm-aabbcc005566';
/** A Plus Wall Dimmer whose MQTT prefix was set to its place: neither its generation nor its output in the name. */
const PREFIXED = 'hallway-dimmer';
const srcOf = (device: string): string => (device === PREFIXED ? 'shellywalldimmer-b0a7329e11c4' : device);

let gw: TestGateway;
let clock: ManualClock;
let firmware: MqttClient;
let sensor: MqttClient;
/** Each device's components, as its firmware has them: `light:0` → output. */
const components = new Map<string, Map<string, boolean>>([
  [DIMMER, new Map([['light:0', false]])],
  [RGBW, new Map([['rgbw:0', false]])],
  [UNKNOWN, new Map([['light:0', false], ['light:1', false], ['light:2', false], ['light:3', false]])],
  [PREFIXED, new Map([['light:0', false]])],
]);

/** As the firmware answers an RPC request on `<device>/rpc`: to `<src>/rpc`, then a NotifyStatus of what changed. */
function answer(device: string, payload: string): [string, string][] {
  const frame = JSON.parse(payload) as { id: number; src: string; method?: string; params?: { id: number; on: boolean } };
  if (frame.method === undefined || !frame.params) return [];
  const type = frame.method.split('.')[0]!.toLowerCase();
  const key = `${type}:${frame.params.id}`;
  const have = components.get(device);
  const was = have?.get(key);
  const src = srcOf(device);
  if (!frame.method.endsWith('.Set') || was === undefined) return [[`${frame.src}/rpc`, JSON.stringify({ id: frame.id, src, dst: frame.src, error: { code: 404, message: `No handler for ${frame.method}` } })]];
  have!.set(key, frame.params.on);
  return [
    [`${frame.src}/rpc`, JSON.stringify({ id: frame.id, src, dst: frame.src, result: { was_on: was } })],
    [`${device}/events/rpc`, JSON.stringify({ src, dst: `${device}/events`, method: 'NotifyStatus', params: { ts: clock.now() / 1000, [key]: { id: frame.params.id, output: frame.params.on, source: 'MQTT' } } })],
  ];
}

const occupancy = (zone: string, value: boolean): Promise<unknown> => sensor.publishAsync(`sensors/hq/${zone}/o1/occupancy`, JSON.stringify({ value, id: `${zone}-o-${value}` }), { qos: 1 });

async function statuses(zone: string): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = '${zone}' AND "actuator" = 'lights'`)).map((r) => String(r['status']));
}

/** The saga's whole time (the confirmation time, then twice and four times it), each timer's run finished before the next. */
async function pastTheSaga(): Promise<void> {
  for (const ms of [10_000, 20_000, 40_000]) await advanceRules(gw, clock, ms);
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startWithMap(
    { actuators: { 'hq/f7/lights': `shelly:${DIMMER}`, 'hq/f8/lights': `shelly:${RGBW}`, 'hq/f9/lights': `shelly:${UNKNOWN}`, 'hq/f6/lights': `shelly:${PREFIXED}` } },
    { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } },
  );
  sensor = await connect(gw.mqttUrl, { clientId: 'shelly-lights-sensors' });
  firmware = await connect(gw.mqttUrl, { clientId: 'shelly-lights-firmware' });
  firmware.on('message', (topic, payload) => {
    const device = topic.split('/')[0]!;
    if (!components.has(device)) return;
    void (async () => {
      for (const [t, p] of answer(device, payload.toString())) await firmware.publishAsync(t, p, { qos: 1 });
    })();
  });
  await firmware.subscribeAsync([`${DIMMER}/rpc`, `${RGBW}/rpc`, `${UNKNOWN}/rpc`, `${PREFIXED}/rpc`], { qos: 1 });
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a Shelly Gen2+ light', () => {
  it('a Pro Dimmer whose NotifyStatus shows light:0 is sent Light.Set, and its NotifyStatus confirms it', async () => {
    // The tester's repro: the dimmer's status, as its firmware sends it on a change.
    await firmware.publishAsync(`${DIMMER}/events/rpc`, JSON.stringify({ src: DIMMER, dst: `${DIMMER}/events`, method: 'NotifyStatus', params: { ts: 1700000000.1, 'light:0': { id: 0, output: false, brightness: 50 } } }), { qos: 1 });
    await waitFor(() => gw.gateway.devices.router.reported('hq/f7/lights')?.state === 'off', 'the dimmer’s state');
    const rpc = await collect(sensor, `${DIMMER}/rpc`);
    await occupancy('f7', true);
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'Light.Set', params: { id: 0, on: true } });
    await waitFor(() => components.get(DIMMER)!.get('light:0') === true, 'the dimmer switched on');
    await waitFor(() => gw.gateway.devices.router.reported('hq/f7/lights')?.state === 'on', 'the dimmer’s report of on');
    await pastTheSaga();
    await waitFor(async () => (await statuses('f7')).length >= 2, 'the saga’s end in InfluxDB');
    expect(await statuses('f7')).toEqual(['sent', 'confirmed']);
    expect(gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === 'f7').map((a) => a.rule)).toEqual([]);
  });

  it('a Plus RGBW PM whose NotifyFullStatus shows rgbw:0 is sent RGBW.Set, and confirmed', async () => {
    // What the firmware sends when it connects: every component's status (here in RGBW mode).
    const full = { ts: 1700000001.5, ble: {}, cloud: { connected: false }, 'input:0': { id: 0, state: false }, mqtt: { connected: true }, 'rgbw:0': { id: 0, source: 'init', output: false, rgb: [255, 255, 255], brightness: 100, white: 0, apower: 0, voltage: 12.1, current: 0, aenergy: { total: 0, by_minute: [0, 0, 0], minute_ts: 1700000000 }, temperature: { tC: 31.2, tF: 88.2 } }, sys: { mac: 'AABBCC003344', restart_required: false, uptime: 3 } };
    await firmware.publishAsync(`${RGBW}/events/rpc`, JSON.stringify({ src: RGBW, dst: `${RGBW}/events`, method: 'NotifyFullStatus', params: full }), { qos: 1 });
    await waitFor(() => gw.gateway.devices.router.reported('hq/f8/lights')?.state === 'off', 'the RGBW’s state');
    const rpc = await collect(sensor, `${RGBW}/rpc`);
    await occupancy('f8', true);
    const call = (await rpc.next()).json<{ method: string; params: unknown }>();
    expect({ method: call.method, params: call.params }).toEqual({ method: 'RGBW.Set', params: { id: 0, on: true } });
    await waitFor(() => gw.gateway.devices.router.reported('hq/f8/lights')?.state === 'on', 'the RGBW’s report of on');
    await pastTheSaga();
    await waitFor(async () => (await statuses('f8')).length >= 2, 'the saga’s end in InfluxDB');
    expect(await statuses('f8')).toEqual(['sent', 'confirmed']);
  });

  it('a dimmer under a prefix of its own, once its status/light:0 came, is sent Light.Set there (not a Gen1 relay command)', async () => {
    // "Generic status update over MQTT": <prefix>/status/<component> with the component's whole status.
    await firmware.publishAsync(`${PREFIXED}/status/light:0`, JSON.stringify({ id: 0, source: 'init', output: false, brightness: 40, temperature: { tC: 38.1, tF: 100.6 } }), { qos: 1 });
    await waitFor(() => gw.gateway.devices.router.reported('hq/f6/lights')?.state === 'off', 'the dimmer’s state');
    const sent = await collect(sensor, [`${PREFIXED}/rpc`, `shellies/${PREFIXED}/#`]);
    await occupancy('f6', true);
    const call = await sent.next();
    expect(call.topic).toBe(`${PREFIXED}/rpc`);
    expect({ method: call.json<{ method: string }>().method, params: call.json<{ params: unknown }>().params }).toEqual({ method: 'Light.Set', params: { id: 0, on: true } });
    await waitFor(() => gw.gateway.devices.router.reported('hq/f6/lights')?.state === 'on', 'the dimmer’s report of on');
    await pastTheSaga();
    await waitFor(async () => (await statuses('f6')).length >= 2, 'the saga’s end in InfluxDB');
    expect(await statuses('f6')).toEqual(['sent', 'confirmed']);
  });

  it('an RPC error answer is logged at warn with the device, the error and the command’s id', async () => {
    // Nothing heard from it yet: sent Switch.Set (most Gen2+ devices are relays), which it refuses.
    const rpc = await collect(sensor, `${UNKNOWN}/rpc`);
    const answers = await collect(sensor, 'iot-gateway/rpc');
    await occupancy('f9', true);
    const call = (await rpc.next()).json<{ id: number; method: string }>();
    expect(call.method).toBe('Switch.Set');
    await answers.next((m) => m.json<{ src: string }>().src === UNKNOWN);
    const sent = await waitFor(() => gw.logs.find((l) => l.msg === 'native command' && l['topic'] === `${UNKNOWN}/rpc`), 'the native command’s log line');
    const warned = await waitFor(() => gw.logs.find((l) => l.level === 40 && l['device'] === `shelly:${UNKNOWN}` && JSON.stringify(l).includes('No handler for Switch.Set')), 'the warning of the error answer');
    expect(warned).toMatchObject({ code: 'GW_ERR_NATIVE_REFUSED', commandId: sent['commandId'], rpcId: call.id, rpcCode: 404, method: 'Switch.Set', error: 'No handler for Switch.Set' });
  });
});
