/**
 * What a native actuator reported is its device's and channel's (gateway/devices/actuator-states.ts):
 * an entry moved to another target keeps what its device is; a device no entry names any more is
 * forgotten (the states stay bounded by the map). The whole path through a real gateway is
 * test/e2e/native-actuator-move.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { NativeRouter } from '../../../gateway/devices/router.js';

const map = (yaml: string) => parseDeviceMap('devices.yaml', yaml);
const formOf = (r: NativeRouter, target: string) => {
  const a = r.actuator(target);
  return a && r.form(a);
};

describe('what an actuator reported, across map edits', () => {
  it('follows the device when its entry moves to another zone; is forgotten once no entry names the device', () => {
    const r = new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, map('actuators:\n  hq/f5/hvac: { device: esphome:f5-node, channel: heater }\n  hq/f6/hvac: zigbee2mqtt:f6_plug\n'));
    const now = Date.UTC(2026, 10, 29);
    r.route('f5-node/switch/heater/state', Buffer.from('OFF'), now);
    r.route('zigbee2mqtt/f6_plug', Buffer.from('{"state":"OFF"}'), now);
    expect([formOf(r, 'hq/f5/hvac'), formOf(r, 'hq/f6/hvac')]).toEqual(['switch', 'switch']);
    const moved = 'actuators:\n  hq/f10/hvac: { device: esphome:f5-node, channel: heater }\n  hq/f11/hvac: zigbee2mqtt:f6_plug\n';
    r.use(map(moved));
    expect([formOf(r, 'hq/f10/hvac'), formOf(r, 'hq/f11/hvac')]).toEqual(['switch', 'switch']);
    expect(r.reported('hq/f10/hvac')).toEqual({ state: 'off' });
    // Another channel of the same node is another switch, not heard yet.
    r.use(map('actuators:\n  hq/f10/hvac: { device: esphome:f5-node, channel: fan_relay }\n'));
    expect(formOf(r, 'hq/f10/hvac')).toBe('thermostat');
    r.use(map(moved));
    expect([formOf(r, 'hq/f10/hvac'), formOf(r, 'hq/f11/hvac')]).toEqual(['thermostat', 'thermostat']);
  });
});
