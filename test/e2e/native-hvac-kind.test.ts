/**
 * The wrong command to real equipment, two ways a first-hour tester found:
 *
 * 1. a heater on a smart plug mapped as the zone's `hvac` was switched ON to cool a hot room (a
 *    plain switch is on for any mode but off). The map now says what the switch drives:
 *    `as: heater` is on only for heat, `as: cooler` only for cool (and dry); every other mode is
 *    off, confirmed by the switch's OFF, and counted as off for the minimum on/off times. A zone's
 *    `hvac` that is a plain switch without it still behaves as before, with a warning naming it.
 * 2. a heat-only Zigbee2MQTT radiator valve (its `bridge/devices` climate expose's `system_mode`
 *    values `["off","heat"]`) was told `{"system_mode":"cool",…}`, which Zigbee2MQTT rejects,
 *    every hot day ending `actuator_unresponsive`. A device that lists its modes is now sent off
 *    for a mode it cannot do (no setpoint), confirmed by its `system_mode: off`; one that cannot
 *    even be switched off (`["heat"]`) is turned down to its heating setpoint's `value_min`
 *    (native-heat-only-valve.test.ts), and sent nothing (GW_ERR_NATIVE_COMMAND) when its expose
 *    gives no minimum.
 *    Home Assistant's and ESPHome's discovery climate `modes` are read the same way.
 *
 * Real gateway, real InfluxDB, real MQTT clients acting as each firmware as it behaves: an ESPHome
 * switch says its state only when it changes; Zigbee2MQTT answers a `/set` with the device's state
 * when the device took it, and nothing when the value is not one the device accepts; a Home
 * Assistant climate says the mode it took on its mode state topic.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandEvent } from '../../gateway/core/events.js';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { bridgeDevices, bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { count } from '../helpers/ports.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway & { mapFile: string };
let clock: ManualClock;
let firmware: MqttClient;
let sensor: MqttClient;
const reports = new Map<string, number>();
const commands: CommandEvent[] = [];
/** Every native command the firmware received, `<topic> <payload>`. */
const received: string[] = [];
/** Each ESPHome switch's state as its firmware holds it, by state topic (true: on). */
const switches = new Map<string, boolean>();
let readingNo = 0;

/** The modes each Zigbee2MQTT valve takes: the values of its climate expose's system_mode. */
const TRV_MODES: Record<string, string[]> = { f11_trv: ['off', 'heat'], f12_trv: ['heat'] };

/** A Home Assistant climate announcing the modes it takes (a heat-only valve). */
const H9_CONFIG = {
  name: 'Radiator valve',
  uniq_id: 'h9_valve',
  mode_stat_t: 'h9valve/mode',
  mode_cmd_t: 'h9valve/mode/set',
  temp_stat_t: 'h9valve/target',
  temp_cmd_t: 'h9valve/target/set',
  modes: ['off', 'heat'],
  dev: { ids: ['h9-valve'], name: 'Radiator valve' },
};

/** An ESPHome climate's own discovery config (mqtt_climate.cpp: its topics, the modes its traits support). */
const F13_CONFIG = {
  name: 'Radiator',
  uniq_id: 'ESPclimatehvac',
  mode_cmd_t: 'f13-node/climate/hvac/mode/command',
  mode_stat_t: 'f13-node/climate/hvac/mode/state',
  temp_cmd_t: 'f13-node/climate/hvac/target_temperature/command',
  temp_stat_t: 'f13-node/climate/hvac/target_temperature/state',
  modes: ['off', 'heat'],
  avty_t: 'f13-node/status',
  dev: { ids: 'a4cf12ab3f13', name: 'f13-node', sw: 'esphome v2025.10.0', mdl: 'esp32dev', mf: 'Espressif' },
};

/**
 * bridge/devices with the two valves: a TuYa TRV (zigbee-herdsman-converters' TS0601_thermostat
 * entry from the fixture, its system_mode taking off and heat) and a Danfoss Ally (heat only, as
 * its definition says) whose setpoint has lost its value_min (as an external converter may give it).
 */
function devicesWithValves(): Record<string, unknown>[] {
  const all = bridgeDevices();
  const copy = (from: string, name: string, ieee: string): Record<string, unknown> => {
    const d = structuredClone(all.find((x) => x['friendly_name'] === from)!);
    const exposes = (d['definition'] as { exposes: { type: string; features?: { name: string; values?: string[] }[] }[] }).exposes;
    const mode = exposes.find((e) => e.type === 'climate')!.features!.find((f) => f.name === 'system_mode')!;
    mode.values = TRV_MODES[name]!;
    if (name === 'f12_trv') for (const f of exposes.find((e) => e.type === 'climate')!.features!) delete (f as { value_min?: number }).value_min;
    return { ...d, friendly_name: name, ieee_address: ieee };
  };
  return [...all, copy('bedroom_trv', 'f11_trv', '0xa4c1380000f11f11'), copy('living_trv', 'f12_trv', '0x000b57fffef12f12')];
}

/** What each firmware publishes when it gets a command. */
function answer(topic: string, payload: string): [string, string][] {
  let m = /^([^/]+)\/switch\/([^/]+)\/command$/.exec(topic);
  if (m) {
    const state = `${m[1]}/switch/${m[2]}/state`;
    const on = payload === 'ON';
    if (switches.get(state) === on) return [];
    switches.set(state, on);
    return [[state, on ? 'ON' : 'OFF']];
  }
  m = /^zigbee2mqtt\/([^/]+)\/set$/.exec(topic);
  if (m?.[1] && TRV_MODES[m[1]]) {
    const body = JSON.parse(payload) as { system_mode?: string; current_heating_setpoint?: number };
    // Not a value the device takes: Zigbee2MQTT logs the error and publishes no state.
    if (body.system_mode === undefined || !TRV_MODES[m[1]]!.includes(body.system_mode)) return [];
    return [[`zigbee2mqtt/${m[1]}`, JSON.stringify({ system_mode: body.system_mode, current_heating_setpoint: body.current_heating_setpoint ?? 21, local_temperature: 30.5, linkquality: 90 })]];
  }
  if (topic === H9_CONFIG.mode_cmd_t && H9_CONFIG.modes.includes(payload)) return [[H9_CONFIG.mode_stat_t, payload]];
  if (topic === F13_CONFIG.mode_cmd_t && F13_CONFIG.modes.includes(payload)) return [[F13_CONFIG.mode_stat_t, payload]];
  return [];
}

const heard = (target: string, n: number) => () => (reports.get(target) ?? 0) >= n;

/** The tester's reading: `sensors/hq/<zone>/t-<zone>/temperature`. */
async function temperature(zone: string, value: number): Promise<void> {
  await sensor.publishAsync(`sensors/hq/${zone}/t-${zone}/temperature`, JSON.stringify({ value, id: `${zone}-${++readingNo}` }), { qos: 1 });
}

async function statuses(zone: string): Promise<string[]> {
  return (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = '${zone}' AND "actuator" = 'hvac'`)).map((r) => String(r['status']));
}

/** The saga's whole time (the confirmation time, then twice and four times it). */
async function pastTheSaga(): Promise<void> {
  for (const ms of [10_000, 20_000, 40_000]) await advanceRules(gw, clock, ms);
}

const zoneCommands = (zone: string) => commands.filter((c) => c.zone === zone && c.actuator === 'hvac');
const nativeTo = (prefix: string) => received.filter((r) => r.startsWith(prefix));
const alarms = (zone: string) => gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === zone).map((a) => a.rule);

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startWithMap(
    {
      actuators: {
        'hq/f5/hvac': { device: 'esphome:f5-node', channel: 'heater', as: 'heater' },
        'hq/f6/hvac': { device: 'esphome:f6-node', channel: 'ac', as: 'cooler' },
        'hq/f7/hvac': { device: 'esphome:f7-node', channel: 'relay' },
        'hq/f8/hvac': { device: 'tasmota:f8_relay', channel: 1 },
        'hq/f11/hvac': { device: 'zigbee2mqtt:f11_trv', setpoint: 'current_heating_setpoint' },
        'hq/f12/hvac': 'zigbee2mqtt:f12_trv',
        'hq/h9/hvac': { device: 'homeassistant:h9-valve', channel: 'valve' },
        'hq/f13/hvac': { device: 'esphome:f13-node', channel: 'hvac' },
      },
    },
    { clock, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-hvac-kind'), env: { STATS_INTERVAL_MS: '0' } },
  );
  gw.gateway.bus.on('actuatorState', (e) => void reports.set(`${e.zone}/${e.actuator}`, (reports.get(`${e.zone}/${e.actuator}`) ?? 0) + 1));
  gw.gateway.bus.on('command', (c) => void commands.push(c));
  sensor = await connect(gw.mqttUrl, { clientId: 'hvac-kind-sensors' });
  firmware = await connect(gw.mqttUrl, { clientId: 'hvac-kind-firmware' });
  firmware.on('message', (topic, payload) => {
    received.push(`${topic} ${payload.toString()}`);
    const out = answer(topic, payload.toString());
    void (async () => {
      for (const [t, p] of out) await firmware.publishAsync(t, p, { qos: 1 });
    })();
  });
  await firmware.subscribeAsync(['+/switch/+/command', '+/climate/+/+/command', 'zigbee2mqtt/+/set', 'h9valve/+/set', 'cmnd/+/+'], { qos: 1 });
  // What Zigbee2MQTT publishes at its start: its state, then its devices (retained).
  const recognised = () => count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt', outcome: 'recognised' });
  const before = await recognised();
  await firmware.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await firmware.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(devicesWithValves()), { qos: 1, retain: true });
  await waitFor(async () => (await recognised()) >= before + 2, 'bridge/devices taken in');
  await firmware.publishAsync('homeassistant/climate/h9-valve/valve/config', JSON.stringify(H9_CONFIG), { qos: 1, retain: true });
  await firmware.publishAsync('homeassistant/climate/f13-node/hvac/config', JSON.stringify(F13_CONFIG), { qos: 1, retain: true });
  // What each device says at connection: off, or heating.
  const initial: [string, string, string][] = [
    ['f5/hvac', 'f5-node/switch/heater/state', 'OFF'],
    ['f6/hvac', 'f6-node/switch/ac/state', 'OFF'],
    ['f7/hvac', 'f7-node/switch/relay/state', 'OFF'],
    ['f11/hvac', 'zigbee2mqtt/f11_trv', JSON.stringify({ system_mode: 'heat', current_heating_setpoint: 21, local_temperature: 30.5, linkquality: 90 })],
    ['h9/hvac', H9_CONFIG.mode_stat_t, 'heat'],
    ['f13/hvac', F13_CONFIG.mode_stat_t, 'heat'],
  ];
  for (const [target, t, p] of initial) {
    if (t.includes('/switch/')) switches.set(t, p === 'ON');
    await firmware.publishAsync(t, p, { qos: 1 });
    await waitFor(heard(target, 1), `${target}: its state at connection`);
  }
});
afterAll(async () => {
  await firmware?.endAsync();
  await sensor?.endAsync();
  await gw?.stop();
});

describe('a switch that drives one appliance: as: heater, as: cooler', () => {
  it('a heater on a plug is switched OFF to cool a hot room, confirmed by its OFF; then, its minimum OFF time past (not its ON time), ON to heat', async () => {
    await temperature('f5', 31);
    await waitFor(() => nativeTo('f5-node/').length === 1, 'f5: the native command for cool');
    expect(zoneCommands('f5').map((c) => c.cloudEvent.data)).toEqual([{ mode: 'cool', setpoint: 22 }]);
    expect(nativeTo('f5-node/')).toEqual(['f5-node/switch/heater/command OFF']);
    await gw.gateway.rules.idle();
    await pastTheSaga();
    await waitFor(async () => (await statuses('f5')).includes('confirmed'), 'f5: cool confirmed by its OFF');
    expect(await statuses('f5')).toEqual(['sent', 'confirmed']);
    expect(alarms('f5')).toEqual([]);
    // 3 min 10 s after it was told cool (its OFF): past its 3 min off, inside its 5 min on.
    await advanceRules(gw, clock, 3 * 60_000 + 10_000 - 70_000);
    await temperature('f5', 12);
    await waitFor(() => zoneCommands('f5').length === 2, 'f5: the heat command, its minimum off time past');
    expect(zoneCommands('f5')[1]?.cloudEvent.data).toEqual({ mode: 'heat', setpoint: 21 });
    await waitFor(heard('f5/hvac', 2), 'f5: its ON');
    expect(nativeTo('f5-node/')).toEqual(['f5-node/switch/heater/command OFF', 'f5-node/switch/heater/command ON']);
    await pastTheSaga();
    await waitFor(async () => (await statuses('f5')).length >= 4, 'f5: the heat saga’s end');
    expect(await statuses('f5')).toEqual(['sent', 'confirmed', 'sent', 'confirmed']);
  });

  it('a window air conditioner on a plug (as: cooler) is switched ON to cool and OFF to heat', async () => {
    await temperature('f6', 31);
    await waitFor(heard('f6/hvac', 2), 'f6: its ON');
    await pastTheSaga();
    await advanceRules(gw, clock, 5 * 60_000);
    await temperature('f6', 12);
    await waitFor(heard('f6/hvac', 3), 'f6: its OFF');
    await pastTheSaga();
    await waitFor(async () => (await statuses('f6')).length >= 4, 'f6: the heat saga’s end');
    expect(nativeTo('f6-node/')).toEqual(['f6-node/switch/ac/command ON', 'f6-node/switch/ac/command OFF']);
    expect(await statuses('f6')).toEqual(['sent', 'confirmed', 'sent', 'confirmed']);
  });

  it('a plain switch as hvac without as: is switched on for cool as before, and the gateway says to name its appliance', async () => {
    // At the map's load: a Tasmota relay is a switch by the map alone.
    expect(gw.logs.find((l) => l.level === 40 && l['target'] === 'hq/f8/hvac')).toMatchObject({ hint: expect.stringContaining('as: heater or as: cooler') as unknown });
    expect(gw.logs.filter((l) => l.level === 40 && ['hq/f5/hvac', 'hq/f6/hvac', 'hq/f11/hvac'].includes(l['target'] as string))).toEqual([]);
    // A switch known by its report: at its first mode command, once.
    await temperature('f7', 31);
    await waitFor(heard('f7/hvac', 2), 'f7: its ON');
    expect(nativeTo('f7-node/')).toEqual(['f7-node/switch/relay/command ON']);
    expect(gw.logs.filter((l) => l.level === 40 && l['target'] === 'hq/f7/hvac')).toEqual([expect.objectContaining({ hint: expect.stringContaining('as: heater or as: cooler') as unknown })]);
  });

  it('npm run devices -- list says what each switch drives, and which hvac switch does not say', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'gateway/cli/devices.ts', 'list', '--url', gw.httpUrl], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } });
    const lines = stdout.split('\n');
    const after = (target: string): string | undefined => lines[lines.findIndex((l) => l.includes(target)) + 1];
    expect(lines.find((l) => l.includes('hq/f5/hvac'))).toMatch(/← esphome:f5-node channel heater as heater$/);
    expect(after('hq/f5/hvac')).not.toMatch(/as: heater or as: cooler/);
    // f8 a relay by the map; f7 a switch by what the running gateway says it reported.
    for (const t of ['hq/f7/hvac', 'hq/f8/hvac']) expect(after(t)).toMatch(/^ {4}! .*say what it drives with as: heater or as: cooler$/);
    expect(after('hq/f11/hvac')).not.toMatch(/^ {4}!/);
  });
});

describe('a thermostat that lists the modes it takes', () => {
  it('a heat-only Zigbee2MQTT TRV (system_mode off, heat) told to cool is sent off, no setpoint, confirmed by its system_mode off', async () => {
    await temperature('f11', 31);
    await waitFor(heard('f11/hvac', 2), 'f11: its state after the command');
    expect(nativeTo('zigbee2mqtt/f11_trv/')).toEqual(['zigbee2mqtt/f11_trv/set {"system_mode":"off"}']);
    const command = zoneCommands('f11')[0]!;
    expect(gw.logs.find((l) => l.level === 30 && l['commandId'] === command.id && l['sent'] === 'off')).toMatchObject({ asked: 'cool', target: 'hq/f11/hvac' });
    await pastTheSaga();
    await waitFor(async () => (await statuses('f11')).length >= 2, 'f11: the saga’s end');
    expect(await statuses('f11')).toEqual(['sent', 'confirmed']);
    expect(alarms('f11')).toEqual([]);
  });

  it('one that cannot even be switched off (heat only), with no lowest setpoint known, is sent nothing: GW_ERR_NATIVE_COMMAND', async () => {
    await temperature('f12', 31);
    const line = await waitFor(() => gw.logs.find((l) => l['code'] === 'GW_ERR_NATIVE_COMMAND' && l['target'] === 'hq/f12/hvac'), 'f12: the refusal');
    expect(line['reason']).toContain('not one it accepts (heat), nor is off, and it gives no lowest heating setpoint');
    expect(nativeTo('zigbee2mqtt/f12_trv/')).toEqual([]);
  });

  it.each([
    ['a Home Assistant climate whose discovery lists', 'h9', 'h9valve/', 'h9valve/mode/set off'],
    ['an ESPHome climate whose own discovery config lists', 'f13', 'f13-node/', 'f13-node/climate/hvac/mode/command off'],
  ])('%s modes off and heat is sent off for cool, with no temperature', async (_what, zone, prefix, sent) => {
    await temperature(zone, 31);
    await waitFor(heard(`${zone}/hvac`, 2), `${zone}: its mode after the command`);
    await pastTheSaga();
    await waitFor(async () => (await statuses(zone)).length >= 2, `${zone}: the saga’s end`);
    expect(nativeTo(prefix)).toEqual([sent]);
    expect(await statuses(zone)).toEqual(['sent', 'confirmed']);
  });
});
