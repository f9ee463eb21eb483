/**
 * A relay (Tasmota, Shelly Gen1 and Gen2, an ESPHome switch, a Zigbee2MQTT plug) that the device
 * map ties to an actuator the rules command in the contract's terms — HVAC by mode and setpoint,
 * lights by state and brightness — can only be switched on or off, and can only report on or off.
 * Its command is confirmed when it reports what it was asked (off for mode `off`, on for any other
 * mode; on for lights on, whatever the brightness), is not resent, raises no
 * `actuator_unresponsive`, and its later periodic reports are no change by hand.
 *
 * Real gateway, real InfluxDB, a real MQTT client acting as each firmware (its topics and
 * payloads as in test/fixtures/native), answering every command at once; the gateway's clock is
 * manual and is moved past the whole saga (10 s + 20 s + 40 s) before the statuses are read.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let clock: ManualClock;
let firmware: MqttClient;
let sensor: MqttClient;
let alerts: { messages: Received[] };
const reports = new Map<string, number>();
/** Each Tasmota relay's state, as its `tele/<topic>/STATE` carries it. */
const tasmotaPower = new Map<string, Record<string, string>>();
/** The last answer each device gave, as it repeats it (Shelly every 30 s, Zigbee2MQTT on its reporting interval). */
const lastAnswer = new Map<string, [string, string][]>();

/** What each firmware publishes when it carries out a command (the topics and payloads of test/fixtures/native). */
function answer(topic: string, payload: string): [string, string][] {
  let m = /^cmnd\/([^/]+)\/POWER(\d*)$/.exec(topic);
  if (m) {
    const [, id = '', n = ''] = m;
    const word = payload.toUpperCase();
    tasmotaPower.set(id, { ...tasmotaPower.get(id), [`POWER${n}`]: word });
    return [
      [`stat/${id}/RESULT`, JSON.stringify({ [`POWER${n}`]: word })],
      [`stat/${id}/POWER${n}`, word],
    ];
  }
  m = /^shellies\/([^/]+)\/relay\/(\d+)\/command$/.exec(topic);
  if (m) return [[`shellies/${m[1]}/relay/${m[2]}`, payload]];
  m = /^([^/]+)\/rpc$/.exec(topic);
  if (m) {
    const frame = JSON.parse(payload) as { id: number; src: string; method?: string; params?: { id: number; on: boolean } };
    if (frame.method !== 'Switch.Set' || !frame.params) return [];
    const { id, on } = frame.params;
    return [
      [`${frame.src}/rpc`, JSON.stringify({ id: frame.id, src: m[1], dst: frame.src, result: { was_on: !on } })],
      [`${m[1]}/status/switch:${id}`, JSON.stringify({ id, source: 'MQTT', output: on, apower: on ? 11.5 : 0, voltage: 240.3, current: on ? 0.073 : 0, aenergy: { total: 1.2, by_minute: [0, 0, 0], minute_ts: 1788945240 }, temperature: { tC: 46.2, tF: 115.1 } })],
    ];
  }
  m = /^([^/]+)\/switch\/([^/]+)\/command$/.exec(topic);
  if (m) return [[`${m[1]}/switch/${m[2]}/state`, payload]];
  m = /^zigbee2mqtt\/([^/]+)\/set$/.exec(topic);
  if (m) {
    const { state } = JSON.parse(payload) as { state: string };
    return [[`zigbee2mqtt/${m[1]}`, JSON.stringify({ state, power: state === 'ON' ? 12.5 : 0, linkquality: 120 })]];
  }
  return [];
}

interface Case {
  readonly name: string;
  readonly zone: string;
  readonly actuator: 'hvac' | 'lights';
  /** The device as the map names it, and what its firmware publishes for one change (Tasmota: RESULT and POWER<n>). */
  readonly device: string;
  readonly reportsPerChange: number;
  /** The readings that command it on, then off. */
  readonly on: [string, string];
  readonly off: [string, string];
  /** The report the device repeats on its own while nothing changes. */
  readonly periodic: () => [string, string][];
}

const temperature = (zone: string, value: number): [string, string] => [`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value, id: `${zone}-t-${value}` })];
const occupancy = (zone: string, value: boolean): [string, string] => [`sensors/hq/${zone}/o1/occupancy`, JSON.stringify({ value, id: `${zone}-o-${value}` })];
const repeat = (device: string) => (): [string, string][] => lastAnswer.get(device) ?? [];
const tasmotaState = (): [string, string][] => [['tele/t1_relay/STATE', JSON.stringify({ Time: '2026-11-27T18:14:49', Uptime: '0T01:00:00', UptimeSec: 3600, Heap: 25, MqttCount: 1, ...tasmotaPower.get('t1_relay'), Wifi: { AP: 1, RSSI: 60 } })]];

const CASES: Case[] = [
  {
    name: 'a Tasmota relay as HVAC (the tester’s case: a Tasmota sensor’s SENSOR makes it cool)',
    zone: 't1',
    actuator: 'hvac',
    device: 'tasmota:t1_relay',
    reportsPerChange: 2,
    on: ['tele/tasmota_A1B2C3/SENSOR', '{"AM2301":{"Temperature":29.6},"TempUnit":"C"}'],
    off: ['tele/tasmota_A1B2C3/SENSOR', '{"AM2301":{"Temperature":18.4},"TempUnit":"C"}'],
    periodic: tasmotaState,
  },
  { name: 'a Tasmota relay as lights given a brightness', zone: 't1', actuator: 'lights', device: 'tasmota:t1_relay', reportsPerChange: 2, on: occupancy('t1', true), off: occupancy('t1', false), periodic: tasmotaState },
  { name: 'a Shelly Gen1 relay as HVAC', zone: 's1', actuator: 'hvac', device: 'shelly:shelly1-A1B2C3', reportsPerChange: 1, on: temperature('s1', 29.5), off: temperature('s1', 18.5), periodic: repeat('shelly1-A1B2C3') },
  { name: 'a Shelly Gen2 switch as HVAC', zone: 's2', actuator: 'hvac', device: 'shelly:shellyplus1-a8032abe2f18', reportsPerChange: 1, on: temperature('s2', 29.5), off: temperature('s2', 18.5), periodic: repeat('shellyplus1-a8032abe2f18') },
  { name: 'an ESPHome switch as lights given a brightness', zone: 'e1', actuator: 'lights', device: 'esphome:e1-node', reportsPerChange: 1, on: occupancy('e1', true), off: occupancy('e1', false), periodic: repeat('e1-node') },
  { name: 'a Zigbee2MQTT plug as lights given a brightness', zone: 'z1', actuator: 'lights', device: 'zigbee2mqtt:z1_plug', reportsPerChange: 1, on: occupancy('z1', true), off: occupancy('z1', false), periodic: repeat('z1_plug') },
];

async function statuses(zone: string, actuator: string): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = '${zone}' AND "actuator" = '${actuator}'`)).map((r) => String(r['status']));
}

/** The saga's whole time (the confirmation time, then twice and four times it), each timer's run finished before the next. */
async function pastTheSaga(): Promise<void> {
  for (const ms of [10_000, 20_000, 40_000]) await advanceRules(gw, clock, ms);
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startWithMap(
    {
      devices: { 'tasmota:tasmota_A1B2C3': { site: 'hq', zone: 't1' } },
      actuators: {
        'hq/t1/hvac': { device: 'tasmota:t1_relay', channel: 1 },
        'hq/t1/lights': { device: 'tasmota:t1_relay', channel: 2 },
        'hq/s1/hvac': 'shelly:shelly1-A1B2C3',
        'hq/s2/hvac': 'shelly:shellyplus1-a8032abe2f18',
        'hq/e1/lights': { device: 'esphome:e1-node', channel: 'relay' },
        'hq/z1/lights': 'zigbee2mqtt:z1_plug',
      },
    },
    { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } },
  );
  gw.gateway.bus.on('actuatorState', (e) => void reports.set(`${e.zone}/${e.actuator}`, (reports.get(`${e.zone}/${e.actuator}`) ?? 0) + 1));
  sensor = await connect(gw.mqttUrl, { clientId: 'relay-sensors' });
  alerts = await collect(sensor, 'alerts/hq/#');
  firmware = await connect(gw.mqttUrl, { clientId: 'DVES_RELAYS' });
  firmware.on('message', (topic, payload) => {
    const out = answer(topic, payload.toString());
    if (out.length === 0) return;
    // What it repeats is its state report, not an RPC reply (Gen2 answers on the caller's <src>/rpc).
    const device = topic.startsWith('shellies/') || topic.startsWith('zigbee2mqtt/') ? topic.split('/')[1]! : topic.split('/')[0]!;
    lastAnswer.set(device, out.filter(([t]) => !t.endsWith('/rpc')));
    void (async () => {
      for (const [t, p] of out) await firmware.publishAsync(t, p, { qos: 1 });
    })();
  });
  await firmware.subscribeAsync(['cmnd/+/+', 'shellies/+/relay/+/command', '+/rpc', '+/switch/+/command', 'zigbee2mqtt/+/set'], { qos: 1 });
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a relay commanded in the contract’s terms', () => {
  it.each(CASES)('$name: confirmed by on/off, never unresponsive nor overridden', async (c) => {
    const target = `${c.zone}/${c.actuator}`;
    const heard = (n: number) => () => (reports.get(target) ?? 0) >= n;
    // On: its first report answers the command.
    await sensor.publishAsync(c.on[0], c.on[1], { qos: 1 });
    await waitFor(heard(c.reportsPerChange), `${target}: the firmware’s answer to on`);
    await pastTheSaga();
    await waitFor(async () => (await statuses(c.zone, c.actuator)).length >= 2, `${target}: the saga’s end in InfluxDB`);
    expect(await statuses(c.zone, c.actuator)).toEqual(['sent', 'confirmed']);
    // What it repeats on its own is the state the rules set, not a change by hand.
    for (const [t, p] of c.periodic()) await firmware.publishAsync(t, p, { qos: 1 });
    await waitFor(heard(c.reportsPerChange + c.periodic().length), `${target}: its periodic report`);
    await gw.gateway.rules.idle();
    // Off: the actuator now reports, so this command is waited for.
    await sensor.publishAsync(c.off[0], c.off[1], { qos: 1 });
    await waitFor(heard(2 * c.reportsPerChange + c.periodic().length), `${target}: the firmware’s answer to off`);
    await pastTheSaga();
    await waitFor(async () => (await statuses(c.zone, c.actuator)).length >= 4, `${target}: the second saga’s end in InfluxDB`);
    expect(await statuses(c.zone, c.actuator)).toEqual(['sent', 'confirmed', 'sent', 'confirmed']);
    const alarms = gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === c.zone && a.actuator === c.actuator);
    expect(alarms.map((a) => a.rule)).toEqual([]);
    expect(alerts.messages.filter((m) => m.json<{ data: { zone: string } }>().data.zone === c.zone).map((m) => m.json<{ type: string }>().type)).toEqual([]);
  });
});
