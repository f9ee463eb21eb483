import { describe, expect, it } from 'vitest';
import { canPublish, canSubscribe, principalOf } from '../../../gateway/broker/acl.js';
import type { Credential } from '../../../gateway/broker/credentials.js';

const topics = { discoveryPrefix: 'homeassistant', zigbee2mqttBase: 'zigbee2mqtt' };
const cred = (c: Partial<Credential>): Credential => ({ name: 'x', role: 'native', hash: '', createdAt: '', ...c });
const ok = (d: { ok: boolean }) => d.ok;

describe('native credentials', () => {
  const bridge = principalOf(cred({ name: 'z2m', role: 'bridge' }), topics);
  const haBridge = principalOf(cred({ name: 'lab', role: 'bridge', family: 'homeassistant', base: 'lab/bench' }), topics);
  const tasmota = principalOf(cred({ name: 'plug', native: 'tasmota:plug_1' }), topics);
  const shelly = principalOf(cred({ name: 'sh', native: 'shelly:shellyplus1-abc' }), topics);
  const esphome = principalOf(cred({ name: 'esp', native: 'esphome:f1-node' }), topics);

  it('lets a bridge publish under its base and the discovery prefix only', () => {
    expect(ok(canPublish(bridge, 'zigbee2mqtt/kitchen/lamp'))).toBe(true);
    expect(ok(canPublish(bridge, 'homeassistant/sensor/0x1/temperature/config'))).toBe(true);
    expect(ok(canPublish(bridge, 'tele/plug_1/SENSOR'))).toBe(false);
    expect(ok(canPublish(bridge, 'commands/hq/f1/hvac'))).toBe(false);
    expect(ok(canPublish(haBridge, 'lab/bench/env'))).toBe(true);
    expect(ok(canPublish(haBridge, 'lab/other'))).toBe(false);
    expect(ok(canSubscribe(bridge, 'zigbee2mqtt/#'))).toBe(true);
    expect(ok(canSubscribe(bridge, '#'))).toBe(false);
  });

  it('lets a native device publish its own topics and subscribe to its own commands', () => {
    expect(ok(canPublish(tasmota, 'tele/plug_1/SENSOR'))).toBe(true);
    expect(ok(canPublish(tasmota, 'stat/plug_1/POWER'))).toBe(true);
    expect(ok(canPublish(tasmota, 'tele/plug_2/SENSOR'))).toBe(false);
    expect(ok(canPublish(tasmota, 'cmnd/plug_1/POWER'))).toBe(false);
    expect(ok(canPublish(tasmota, 'sensors/hq/f1/plug_1/power'))).toBe(false);
    expect(ok(canSubscribe(tasmota, 'cmnd/plug_1/#'))).toBe(true);
    expect(ok(canSubscribe(tasmota, 'cmnd/DVES_123ABC_fb/#'))).toBe(true);
    expect(ok(canSubscribe(tasmota, 'cmnd/+/#'))).toBe(false);
    expect(ok(canPublish(shelly, 'shellyplus1-abc/status/switch:0'))).toBe(true);
    expect(ok(canPublish(shelly, 'iot-gateway/rpc'))).toBe(true);
    expect(ok(canSubscribe(shelly, 'shellyplus1-abc/rpc'))).toBe(true);
    expect(ok(canPublish(esphome, 'f1-node/sensor/t/state'))).toBe(true);
    expect(ok(canPublish(esphome, 'homeassistant/sensor/f1-node/t/config'))).toBe(true);
    expect(ok(canPublish(esphome, 'homeassistant/sensor/f2-node/t/config'))).toBe(false);
    expect(ok(canSubscribe(esphome, 'f1-node/switch/fan/command'))).toBe(true);
  });
});
