/**
 * Zigbee2MQTT's `bridge/devices` read for what each device is (a switch or a thermostat), from
 * the exposes real device definitions give (test/fixtures/native/zigbee2mqtt-bridge-devices.ts),
 * and how the router uses it: before a device's reports, after the map's `as:`, per endpoint, for
 * the base commands go to, replaced whole by the next list.
 */
import { describe, expect, it } from 'vitest';
import { decode } from '../../../gateway/devices/families/zigbee2mqtt.js';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { MAX_BRIDGE_DEVICES_BYTES } from '../../../gateway/devices/normalise.js';
import { unitScale } from '../../../gateway/devices/placement.js';
import { NativeRouter } from '../../../gateway/devices/router.js';
import type { Learnt } from '../../../gateway/devices/types.js';
import { bridgeDevices, bridgeDevicesPayload, unitDevices } from '../../fixtures/native/zigbee2mqtt-bridge-devices.js';

const learntFrom = (payload: string, base = 'zigbee2mqtt'): Learnt[] | undefined => {
  const r = decode(`${base}/bridge/devices`, Buffer.from(payload), { zigbee2mqttBaseTopic: base });
  return r.outcome === 'not_mine' ? undefined : r.learnt;
};

function router(yaml: string): NativeRouter {
  return new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, parseDeviceMap('devices.yaml', yaml));
}
const MAP = `actuators:
  hq/z1/hvac: zigbee2mqtt:window_ac_plug
  hq/z2/hvac: zigbee2mqtt:living_trv
  hq/z3/hvac: { device: zigbee2mqtt:hall_2gang, channel: l2 }
  hq/z4/hvac: { device: zigbee2mqtt:hall_2gang, channel: l3 }
  hq/z5/hvac: { device: zigbee2mqtt:window_ac_plug, as: thermostat }
  hq/z6/hvac: zigbee2mqtt:kitchen_plug
`;
const formsIn = (r: NativeRouter): Record<string, string> =>
  Object.fromEntries([...r.map.actuators.values()].map((a) => [a.target, r.form(a)]));

describe('Zigbee2MQTT bridge/devices', () => {
  it('says which devices are switches and which thermostats, by their exposes, per endpoint too, the modes a thermostat takes and its lowest heating setpoint', () => {
    const learnt = learntFrom(bridgeDevicesPayload());
    expect(learnt).toHaveLength(1);
    const fact = learnt![0]!;
    if (fact.what !== 'zigbee2mqttDevices') throw new Error(`learnt ${fact.what}`);
    expect(fact.base).toBe('zigbee2mqtt');
    // The coordinator and the unsupported device (no definition) say nothing; sensors would not either.
    expect(Object.fromEntries(fact.devices)).toEqual({
      window_ac_plug: { form: 'switch' },
      // The modes each takes: its climate's system_mode values (a Danfoss Ally: heat only); its
      // heating setpoint's attribute and value_min: what it is turned down to when it cannot be off.
      living_trv: { form: 'thermostat', modes: new Map([['', ['heat']]]), floors: new Map([['', { attribute: 'occupied_heating_setpoint', value: 5 }]]) },
      // Its switch exposes are settings (window_detection, away_mode…), not its on/off.
      bedroom_trv: { form: 'thermostat', modes: new Map([['', ['heat', 'auto', 'off']]]), floors: new Map([['', { attribute: 'current_heating_setpoint', value: 5 }]]) },
      hall_2gang: { form: 'switch', endpoints: new Map([['l1', 'switch'], ['l2', 'switch']]) },
      desk_lamp: { form: 'switch' },
    });
  });

  it('a heating setpoint is a floor only when settable with a value_min; on an endpoint, under its property', () => {
    const climate = (setpoint: Record<string, unknown>, endpoint?: string) => ({
      type: 'climate',
      ...(endpoint ? { endpoint } : {}),
      features: [
        { name: 'occupied_heating_setpoint', type: 'numeric', access: 7, property: endpoint ? `occupied_heating_setpoint_${endpoint}` : 'occupied_heating_setpoint', ...setpoint },
        { name: 'system_mode', type: 'enum', access: 7, property: 'system_mode', values: ['heat'] },
      ],
    });
    const device = (name: string, exposes: unknown[]) => ({ friendly_name: name, ieee_address: `0x${name}`, definition: { model: 'x', vendor: 'y', exposes } });
    const fact = learntFrom(
      JSON.stringify([
        device('no_min', [climate({ value_max: 35 })]),
        device('read_only', [climate({ value_min: 5, access: 5 })]),
        device('two_zones', [climate({ value_min: 4, value_max: 30 }, 'l1'), climate({ value_min: 7 }, 'l2')]),
      ]),
    )![0]!;
    if (fact.what !== 'zigbee2mqttDevices') throw new Error(`learnt ${fact.what}`);
    expect(fact.devices.get('no_min')?.floors).toBeUndefined();
    expect(fact.devices.get('read_only')?.floors).toBeUndefined();
    expect(fact.devices.get('two_zones')?.floors).toEqual(
      new Map([
        ['l1', { attribute: 'occupied_heating_setpoint_l1', value: 4 }],
        ['', { attribute: 'occupied_heating_setpoint_l1', value: 4 }],
        ['l2', { attribute: 'occupied_heating_setpoint_l2', value: 7 }],
      ]),
    );
  });

  it('is bridge traffic, not a reading; a list it cannot read is a failure', () => {
    expect(decode('zigbee2mqtt/bridge/devices', Buffer.from(bridgeDevicesPayload()))).toMatchObject({ outcome: 'recognised', what: 'bridge traffic (bridge/devices)' });
    expect(decode('zigbee2mqtt/bridge/devices', Buffer.from('{"devices":[]}'))).toMatchObject({ outcome: 'failure', detail: 'zigbee2mqtt:bridge: bridge/devices: bridge/devices is not a JSON array' });
    expect(decode('zigbee2mqtt/bridge/devices', Buffer.from('[{"friendly_name":'))).toMatchObject({ outcome: 'failure', detail: 'zigbee2mqtt:bridge: bridge/devices: payload is not JSON' });
  });

  it('reads a list far larger than other native payloads, up to its own limit', () => {
    const devices = bridgeDevices();
    const plug = devices.find((d) => d['friendly_name'] === 'window_ac_plug')!;
    for (let i = 0; i < 200; i++) devices.push({ ...plug, friendly_name: `plug_${i}` });
    const payload = bridgeDevicesPayload(devices);
    expect(payload.length).toBeGreaterThan(256 * 1024);
    const fact = learntFrom(payload)?.[0];
    expect(fact?.what === 'zigbee2mqttDevices' && fact.devices.get('plug_199')).toEqual({ form: 'switch' });
    const huge = `[${' '.repeat(MAX_BRIDGE_DEVICES_BYTES)}]`;
    expect(decode('zigbee2mqtt/bridge/devices', Buffer.from(huge))).toMatchObject({ outcome: 'failure', detail: `zigbee2mqtt:bridge: bridge/devices: payload is larger than ${MAX_BRIDGE_DEVICES_BYTES} bytes` });
  });
});

describe('an actuator’s form from what its bridge lists', () => {
  it('before any report: the plug a switch, the TRV a thermostat, an endpoint as its channel; the map’s as: first', () => {
    const r = router(MAP);
    expect(formsIn(r)).toEqual({ 'hq/z1/hvac': 'thermostat', 'hq/z2/hvac': 'thermostat', 'hq/z3/hvac': 'thermostat', 'hq/z4/hvac': 'thermostat', 'hq/z5/hvac': 'thermostat', 'hq/z6/hvac': 'thermostat' });
    expect(r.route('zigbee2mqtt/bridge/devices', Buffer.from(bridgeDevicesPayload()), 0)).toMatchObject({ outcome: 'recognised' });
    // l3 is no endpoint of the 2-gang, kitchen_plug is not listed: what they report, else the default.
    expect(formsIn(r)).toEqual({ 'hq/z1/hvac': 'switch', 'hq/z2/hvac': 'thermostat', 'hq/z3/hvac': 'switch', 'hq/z4/hvac': 'thermostat', 'hq/z5/hvac': 'thermostat', 'hq/z6/hvac': 'thermostat' });
  });

  it('the bridge’s word before the device’s reports; the next list replaces the last', () => {
    const r = router(MAP);
    r.route('zigbee2mqtt/kitchen_plug', Buffer.from('{"state":"OFF","power":0}'), 0);
    expect(formsIn(r)['hq/z6/hvac']).toBe('switch');
    const renamed = bridgeDevices().map((d) => (d['friendly_name'] === 'living_trv' ? { ...d, friendly_name: 'kitchen_plug' } : d));
    r.route('zigbee2mqtt/bridge/devices', Buffer.from(bridgeDevicesPayload(renamed)), 0);
    // kitchen_plug is now the TRV's entry (a climate expose), living_trv is gone (back to the default).
    expect(formsIn(r)).toMatchObject({ 'hq/z6/hvac': 'thermostat', 'hq/z2/hvac': 'thermostat', 'hq/z1/hvac': 'switch' });
    const without = bridgeDevices().filter((d) => d['friendly_name'] !== 'window_ac_plug');
    r.route('zigbee2mqtt/bridge/devices', Buffer.from(bridgeDevicesPayload(without)), 0);
    // Neither listed: kitchen_plug what it reported, window_ac_plug (never reported) the default.
    expect(formsIn(r)).toMatchObject({ 'hq/z6/hvac': 'switch', 'hq/z1/hvac': 'thermostat' });
  });

  it('only the base commands go to counts; a bridge on another base teaches nothing about these', () => {
    const r = router(MAP);
    r.route('z2m-east/bridge/devices', Buffer.from(bridgeDevicesPayload()), 0, { family: 'zigbee2mqtt', base: 'z2m-east' });
    expect(r.learnt.zigbee2mqttForm('z2m-east', 'window_ac_plug', undefined)).toBe('switch');
    expect(formsIn(r)['hq/z1/hvac']).toBe('thermostat');
  });

  it('a bridge/devices may be larger than MAX_PAYLOAD_BYTES: on the configured base, or its credential’s', () => {
    const r = router(MAP);
    expect(r.payloadLimit('zigbee2mqtt/bridge/devices', undefined)).toBe(MAX_BRIDGE_DEVICES_BYTES);
    expect(r.payloadLimit('z2m-east/bridge/devices', { family: 'zigbee2mqtt', base: 'z2m-east' })).toBe(MAX_BRIDGE_DEVICES_BYTES);
    expect(r.payloadLimit('z2m-east/bridge/devices', undefined)).toBeUndefined();
    // bridge/info carries every device's options: a large network's is past 64 KiB too.
    expect(r.payloadLimit('zigbee2mqtt/bridge/info', undefined)).toBe(MAX_BRIDGE_DEVICES_BYTES);
    expect(r.payloadLimit('zigbee2mqtt/bridge/state', undefined)).toBeUndefined();
    expect(r.payloadLimit('zigbee2mqtt/hall/bridge/devices', undefined)).toBeUndefined();
  });
});

describe('the units bridge/devices gives each device’s numeric keys', () => {
  const UNITS_MAP = `kinds:
  voltage: { unit: V, type: number, min: 0, max: 1000 }
devices:
  zigbee2mqtt:door_f2: { site: hq, zone: f2 }
  zigbee2mqtt:kitchen_plug: { site: hq, zone: f2 }
`;
  const readings = (r: NativeRouter, name: string, state: object) => {
    const out = r.route(`zigbee2mqtt/${name}`, Buffer.from(JSON.stringify(state)), Date.now());
    if (out.outcome !== 'placed') throw new Error(`not placed: ${JSON.stringify(out)}`);
    return { readings: Object.fromEntries(out.readings.map((x) => [x.kind, x.value])), problems: out.problems };
  };

  it('reads each numeric expose’s unit, a specific expose’s features too, not a composite’s', () => {
    const devices = learntFrom(bridgeDevicesPayload([...bridgeDevices(), ...unitDevices()]))?.find((l) => l.what === 'zigbee2mqttDevices');
    const units = devices?.what === 'zigbee2mqttDevices' ? devices.units : undefined;
    expect(units?.get('door_f2')?.get('voltage')).toBe('mV');
    expect(Object.fromEntries(units?.get('kitchen_plug') ?? [])).toMatchObject({ voltage: 'V', power: 'W', current: 'A', energy: 'kWh' });
    // A climate's and a light's features are the device's keys (occupied_heating_setpoint, color_temp).
    expect(units?.get('living_trv')?.get('occupied_heating_setpoint')).toBe('°C');
    expect(units?.get('desk_lamp')?.get('color_temp')).toBe('mired');
  });

  it('a battery’s mV is the kind’s V, a plug’s V as sent; before bridge/devices, as sent (the kind’s range says)', () => {
    const r = router(UNITS_MAP);
    expect(readings(r, 'door_f2', { voltage: 3025 }).readings).toEqual({ voltage: 3025 });
    r.relearn('zigbee2mqtt/bridge/devices', Buffer.from(bridgeDevicesPayload([...bridgeDevices(), ...unitDevices()])), Date.now());
    expect(readings(r, 'door_f2', { battery: 100, contact: false, voltage: 3025 }).readings).toMatchObject({ voltage: 3.025, battery: 100, contact: true });
    expect(readings(r, 'kitchen_plug', { voltage: 230.1, power: 11 }).readings).toMatchObject({ voltage: 230.1, power: 11 });
  });

  it('a milli or kilo apart is converted, the prefix’s case kept; other units are not', () => {
    expect(unitScale('mV', 'V')).toBe(0.001);
    expect(unitScale('V', 'mV')).toBe(1000);
    expect(unitScale('kWh', 'Wh')).toBe(1000);
    expect(unitScale('W', 'kW')).toBe(0.001);
    expect(unitScale('°C', 'C')).toBe(1);
    expect(unitScale('MW', 'W')).toBeUndefined();
    expect(unitScale('µg/m³', 'ppb')).toBeUndefined();
  });
});
