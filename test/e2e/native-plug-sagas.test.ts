/**
 * A plain on/off switch — an ESPHome `switch`, a Zigbee2MQTT plug, a switch announced by Home
 * Assistant discovery — driving a window air conditioner or a heater, mapped as the zone's HVAC.
 * The rules command it by mode; it can only be switched on (any mode but off) or off, in its own
 * firmware's words, and it confirms by reporting on or off. The device map says so
 * (`as: switch`), or the device does: an ESPHome node reporting on `<node>/switch/<id>/state`, a
 * Zigbee2MQTT device whose state has `state` and no `system_mode`, a discovery config of component
 * `switch`. And a relay's reported state counts as off or on for the minimum on/off times.
 *
 * Real gateway, real InfluxDB, a real MQTT client acting as each firmware as it behaves: ESPHome
 * publishes a switch's state only when it changes (Switch::publish_state's dedup), Zigbee2MQTT
 * answers each `/set` it has a converter for, a discovered switch reads its command_topic's
 * payload_on/payload_off and reports state_on/state_off. The gateway's clock is manual.
 */
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import type { CommandEvent } from '../../gateway/core/events.js';
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
const commands: CommandEvent[] = [];
/** The readings handed to the rules, `<zone>/<id>`. */
const readings: string[] = [];
/** Every native command the firmware received, `<topic> <payload>`. */
const received: string[] = [];
/** Each switch's state as its firmware holds it, by state topic (true: on). */
const switches = new Map<string, boolean>();

/** A switch announced by Home Assistant discovery: its own payloads for commands and for states. */
const HA_CONFIG = {
  name: 'Window AC plug',
  uniq_id: 'h1_plug_relay',
  stat_t: 'h1plug/relay/state',
  cmd_t: 'h1plug/relay/set',
  pl_on: '1',
  pl_off: '0',
  stat_on: 'on',
  stat_off: 'off',
  dev: { ids: ['h1_plug'], name: 'Window AC plug' },
};

/** What each firmware publishes when it gets a command: only what it has a command for, and an ESPHome switch only on a change. */
function answer(topic: string, payload: string): [string, string][] {
  // An ESPHome fan takes ON/OFF as a switch does (mqtt_fan.cpp, parse_on_off) and says its state on a change.
  let m = /^([^/]+)\/(switch|fan)\/([^/]+)\/command$/.exec(topic);
  if (m) {
    const state = `${m[1]}/${m[2]}/${m[3]}/state`;
    const on = payload === 'TOGGLE' ? !switches.get(state) : payload === 'ON';
    if (switches.get(state) === on) return [];
    switches.set(state, on);
    return [[state, on ? 'ON' : 'OFF']];
  }
  m = /^zigbee2mqtt\/([^/]+)\/set$/.exec(topic);
  if (m) {
    const body = JSON.parse(payload) as { state?: string };
    // A plug has no converter for system_mode: Zigbee2MQTT logs it and publishes nothing.
    if (body.state !== 'ON' && body.state !== 'OFF') return [];
    return [[`zigbee2mqtt/${m[1]}`, JSON.stringify({ state: body.state, power: body.state === 'ON' ? 850 : 0, linkquality: 120 })]];
  }
  if (topic === HA_CONFIG.cmd_t && (payload === HA_CONFIG.pl_on || payload === HA_CONFIG.pl_off)) return [[HA_CONFIG.stat_t, payload === HA_CONFIG.pl_on ? HA_CONFIG.stat_on : HA_CONFIG.stat_off]];
  m = /^cmnd\/([^/]+)\/POWER(\d*)$/.exec(topic);
  if (m) return [[`stat/${m[1]}/POWER${m[2]}`, payload.toUpperCase()]];
  return [];
}

const temperature = (zone: string, value: number): [string, string] => [`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value, id: `${zone}-t-${value}-${clock.now()}` })];

async function statuses(zone: string, actuator = 'hvac'): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = '${zone}' AND "actuator" = '${actuator}'`)).map((r) => String(r['status']));
}

/** The saga's whole time (the confirmation time, then twice and four times it), each timer's run finished before the next. */
async function pastTheSaga(): Promise<void> {
  for (const ms of [10_000, 20_000, 40_000]) await advanceRules(gw, clock, ms);
}

const heard = (target: string, n: number) => () => (reports.get(target) ?? 0) >= n;

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startWithMap(
    {
      actuators: {
        'hq/e2/hvac': { device: 'esphome:e2-node', channel: 'relay', as: 'switch' },
        'hq/e3/hvac': { device: 'esphome:e3-node', channel: 'relay' },
        'hq/e4/hvac': { device: 'esphome:e4-node', channel: 'relay' },
        'hq/e5/hvac': { device: 'esphome:e5-node', channel: 'fan:vent' },
        'hq/c1/hvac': { device: 'esphome:c1-node', channel: 'hvac' },
        'hq/z2/hvac': { device: 'zigbee2mqtt:z2_plug', as: 'switch' },
        'hq/z3/hvac': 'zigbee2mqtt:z3_plug',
        'hq/h1/hvac': 'homeassistant:h1_plug',
        'hq/m1/heater': { device: 'tasmota:m1_relay', channel: 1 },
      },
    },
    { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-plug'), env: { STATS_INTERVAL_MS: '0' } },
  );
  gw.gateway.bus.on('actuatorState', (e) => void reports.set(`${e.zone}/${e.actuator}`, (reports.get(`${e.zone}/${e.actuator}`) ?? 0) + 1));
  gw.gateway.bus.on('command', (c) => void commands.push(c));
  gw.gateway.bus.on('reading', (r) => void readings.push(`${r.zone}/${r.id}`));
  sensor = await connect(gw.mqttUrl, { clientId: 'plug-sensors' });
  alerts = await collect(sensor, 'alerts/hq/#');
  firmware = await connect(gw.mqttUrl, { clientId: 'plug-firmware' });
  firmware.on('message', (topic, payload) => {
    received.push(`${topic} ${payload.toString()}`);
    const out = answer(topic, payload.toString());
    void (async () => {
      for (const [t, p] of out) await firmware.publishAsync(t, p, { qos: 1 });
    })();
  });
  // Whatever the gateway sends them, switch or climate form.
  await firmware.subscribeAsync(['+/switch/+/command', '+/fan/+/command', '+/climate/+/+/command', 'zigbee2mqtt/+/set', HA_CONFIG.cmd_t, 'cmnd/+/+'], { qos: 1 });
  // What the devices say at connection: ESPHome every entity's state (e2's too, though its map
  // entry needs none), a Home Assistant device its retained discovery config and its state.
  await firmware.publishAsync('homeassistant/switch/h1_plug/relay/config', JSON.stringify(HA_CONFIG), { qos: 1, retain: true });
  const initial: [string, string, string][] = [
    ['e3/hvac', 'e3-node/switch/relay/state', 'OFF'],
    ['z3/hvac', 'zigbee2mqtt/z3_plug', JSON.stringify({ state: 'OFF', power: 0, linkquality: 120 })],
    ['h1/hvac', HA_CONFIG.stat_t, HA_CONFIG.stat_off],
  ];
  for (const [target, t, p] of initial) {
    if (t.includes('/switch/')) switches.set(t, false);
    await firmware.publishAsync(t, p, { qos: 1 });
    await waitFor(heard(target, 1), `${target}: its state at connection`);
  }
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

interface Case {
  readonly name: string;
  readonly zone: string;
  /** Its reports before the first command (its state at connection). */
  readonly before: number;
  /** Where its firmware takes commands, and the native commands it gets for on, then off. */
  readonly prefix: string;
  readonly native: [string, string];
}

const CASES: Case[] = [
  { name: 'an ESPHome switch mapped `as: switch`', zone: 'e2', before: 0, prefix: 'e2-node/', native: ['e2-node/switch/relay/command ON', 'e2-node/switch/relay/command OFF'] },
  { name: 'an ESPHome switch known by its switch/<id>/state', zone: 'e3', before: 1, prefix: 'e3-node/', native: ['e3-node/switch/relay/command ON', 'e3-node/switch/relay/command OFF'] },
  { name: 'an ESPHome fan (`channel: fan:<id>`), never heard before', zone: 'e5', before: 0, prefix: 'e5-node/', native: ['e5-node/fan/vent/command ON', 'e5-node/fan/vent/command OFF'] },
  { name: 'a Zigbee2MQTT plug mapped `as: switch`', zone: 'z2', before: 0, prefix: 'zigbee2mqtt/z2_plug/', native: ['zigbee2mqtt/z2_plug/set {"state":"ON"}', 'zigbee2mqtt/z2_plug/set {"state":"OFF"}'] },
  { name: 'a Zigbee2MQTT plug known by a state with no system_mode', zone: 'z3', before: 1, prefix: 'zigbee2mqtt/z3_plug/', native: ['zigbee2mqtt/z3_plug/set {"state":"ON"}', 'zigbee2mqtt/z3_plug/set {"state":"OFF"}'] },
  { name: 'a switch announced by Home Assistant discovery (its own payload_on/off, state_on/off)', zone: 'h1', before: 1, prefix: 'h1plug/', native: ['h1plug/relay/set 1', 'h1plug/relay/set 0'] },
];

describe('a plain on/off switch as HVAC', () => {
  it.each(CASES)('$name: switched on for cool and off for off, confirmed each time', async (c) => {
    const target = `${c.zone}/hvac`;
    const on = temperature(c.zone, 29.5);
    await sensor.publishAsync(on[0], on[1], { qos: 1 });
    await waitFor(heard(target, c.before + 1), `${target}: the firmware’s answer to on`);
    await pastTheSaga();
    await waitFor(async () => (await statuses(c.zone)).length >= 2, `${target}: the saga’s end in InfluxDB`);
    expect(await statuses(c.zone)).toEqual(['sent', 'confirmed']);
    const off = temperature(c.zone, 18.5);
    await sensor.publishAsync(off[0], off[1], { qos: 1 });
    await waitFor(heard(target, c.before + 2), `${target}: the firmware’s answer to off`);
    await pastTheSaga();
    await waitFor(async () => (await statuses(c.zone)).length >= 4, `${target}: the second saga’s end in InfluxDB`);
    expect(await statuses(c.zone)).toEqual(['sent', 'confirmed', 'sent', 'confirmed']);
    expect(received.filter((r) => r.startsWith(c.prefix))).toEqual(c.native);
    expect(gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === c.zone).map((a) => a.rule)).toEqual([]);
    expect(alerts.messages.filter((m) => m.json<{ data: { zone: string } }>().data.zone === c.zone).map((m) => m.json<{ type: string }>().type)).toEqual([]);
  });

  it('already on by hand: the command is confirmed by the report that said so (ESPHome says nothing when nothing changes)', async () => {
    const state = 'e4-node/switch/relay/state';
    switches.set(state, true);
    await firmware.publishAsync(state, 'ON', { qos: 1 });
    await waitFor(heard('e4/hvac', 1), 'e4/hvac: on by hand');
    const on = temperature('e4', 29.5);
    await sensor.publishAsync(on[0], on[1], { qos: 1 });
    await waitFor(() => received.includes('e4-node/switch/relay/command ON'), 'e4: the command to switch on');
    await gw.gateway.rules.idle();
    await pastTheSaga();
    await waitFor(async () => (await statuses('e4')).length >= 2, 'e4/hvac: the saga’s end in InfluxDB');
    expect(await statuses('e4')).toEqual(['sent', 'confirmed']);
    expect(gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === 'e4').map((a) => a.rule)).toEqual([]);
    // Its state is now the command's: the cool-done rule switches it off, and the switch says so.
    const off = temperature('e4', 18.5);
    await sensor.publishAsync(off[0], off[1], { qos: 1 });
    await waitFor(heard('e4/hvac', 2), 'e4/hvac: the answer to off');
    await pastTheSaga();
    await waitFor(async () => (await statuses('e4')).length >= 4, 'e4/hvac: the second saga’s end');
    expect(await statuses('e4')).toEqual(['sent', 'confirmed', 'sent', 'confirmed']);
  });
});

it('GET /api/devices says what a mode command becomes for each actuator: the map’s as:, else what the device said, else a thermostat', async () => {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { actuators: { target: string; form: string }[] };
  const form = Object.fromEntries(api.actuators.map((a) => [a.target, a.form]));
  expect(form).toMatchObject({ 'hq/e2/hvac': 'switch', 'hq/e3/hvac': 'switch', 'hq/e5/hvac': 'switch', 'hq/z2/hvac': 'switch', 'hq/z3/hvac': 'switch', 'hq/h1/hvac': 'switch', 'hq/m1/heater': 'switch', 'hq/c1/hvac': 'thermostat' });
});

describe('minimum on/off times of a relay whose state was adopted from its reports', () => {
  it('a relay switched off by hand is off: its minimum off time holds it, not its minimum on time', async () => {
    const report = async (word: string, n: number): Promise<void> => {
      await firmware.publishAsync('stat/m1_relay/POWER1', word, { qos: 1 });
      await waitFor(heard('m1/heater', n), `m1/heater: its report ${word}`);
      await gw.gateway.rules.idle();
    };
    const heater = () => commands.filter((c) => c.zone === 'm1' && c.actuator === 'heater');
    await report('OFF', 1);
    await advanceRules(gw, clock, 1_000);
    await report('ON', 2); // on by hand: followed (the rules never set it)
    await advanceRules(gw, clock, 11 * 60_000);
    await report('OFF', 3); // off by hand, 11 min later
    await advanceRules(gw, clock, 60_000);
    const cold = temperature('m1', 8);
    await sensor.publishAsync(cold[0], cold[1], { qos: 1 });
    await waitFor(() => readings.includes(`m1/${JSON.parse(cold[1]).id as string}`), 'm1: the cold reading taken in');
    await gw.gateway.rules.idle();
    // Off for 1 min of its 2: held back.
    expect(heater()).toEqual([]);
    // Just past its 2 min off (its 10 min minimum on time has nothing to do with it): switched on.
    await advanceRules(gw, clock, 61_000);
    await waitFor(() => heater().length === 1, 'm1/heater: the heat command once its minimum off time is up');
    expect(heater()[0]?.cloudEvent.data).toEqual({ mode: 'heat', setpoint: 21 });
    await waitFor(heard('m1/heater', 4), 'm1/heater: the relay’s answer');
    await pastTheSaga();
    await waitFor(async () => (await statuses('m1', 'heater')).length >= 2, 'm1/heater: the saga’s end in InfluxDB');
    expect(await statuses('m1', 'heater')).toEqual(['sent', 'confirmed']);
    expect(received.filter((r) => r.startsWith('cmnd/m1_relay/'))).toEqual(['cmnd/m1_relay/POWER1 ON']);
  });
});
