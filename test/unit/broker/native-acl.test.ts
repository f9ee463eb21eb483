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

describe('a native Tasmota credential under the device map’s FullTopics', () => {
  const withMap = (native: string, fullTopics: string[], prefixes?: { cmnd?: string; stat?: string; tele?: string }) =>
    principalOf(cred({ name: 'plug', native }), { ...topics, tasmota: () => ({ fullTopics, ...(prefixes ? { prefixes } : {}) }) });

  it('gets every template the map lists, with its own topic and the map’s prefixes', () => {
    const p = withMap('tasmota:plug_1', ['home/%topic%/%prefix%/', '%prefix%/%hostname%/%topic%/'], { tele: 'tl' });
    expect(ok(canPublish(p, 'home/plug_1/tl/SENSOR'))).toBe(true);
    expect(ok(canPublish(p, 'home/plug_1/stat/POWER'))).toBe(true);
    expect(ok(canPublish(p, 'tl/host-1/plug_1/SENSOR'))).toBe(true);
    expect(ok(canPublish(p, 'home/plug_2/tl/SENSOR'))).toBe(false);
    expect(ok(canPublish(p, 'home/plug_1/cmnd/POWER'))).toBe(false);
    expect(ok(canSubscribe(p, 'home/plug_1/cmnd/#'))).toBe(true);
    expect(ok(canSubscribe(p, 'home/tasmotas/cmnd/#'))).toBe(true);
    expect(ok(canSubscribe(p, 'home/+/cmnd/#'))).toBe(false);
    expect(ok(canSubscribe(p, 'cmnd/+/plug_2/#'))).toBe(false);
    // The built-in templates stay.
    expect(ok(canPublish(p, 'tele/plug_1/SENSOR'))).toBe(true);
  });

  it('cannot be widened by a template holding a wildcard, nor a topic of several levels', () => {
    const p = withMap('tasmota:plug_1', ['#/%topic%/%prefix%/', '+/%prefix%/%topic%/']);
    expect(ok(canPublish(p, 'home/plug_2/tele/SENSOR'))).toBe(false);
    expect(ok(canSubscribe(p, '#'))).toBe(false);
    expect(ok(canSubscribe(p, 'x/cmnd/plug_1/#'))).toBe(false);
    const deep = withMap('tasmota:plug_2/x', ['home/%topic%/%prefix%/']);
    expect(ok(canPublish(deep, 'home/plug_2/x/tele/SENSOR'))).toBe(false);
    expect(ok(canPublish(deep, 'tele/plug_2/x/SENSOR'))).toBe(false);
    expect(ok(canSubscribe(deep, 'cmnd/plug_2/x/#'))).toBe(false);
  });

  it('cannot command another device through a topic another template reads as a command', () => {
    // Topic "cmnd" under %topic%/%prefix%/ publishes cmnd/tele/…, which %prefix%/%topic%/ reads as a command to "tele".
    const p = withMap('tasmota:cmnd', ['%prefix%/%topic%/', '%topic%/%prefix%/']);
    expect(ok(canPublish(p, 'cmnd/tele/POWER'))).toBe(false);
    expect(ok(canPublish(p, 'cmnd/stat/POWER'))).toBe(false);
  });

  it('follows the map in force at each check', () => {
    let fullTopics = ['home/%topic%/%prefix%/'];
    const p = principalOf(cred({ name: 'plug', native: 'tasmota:plug_1' }), { ...topics, tasmota: () => ({ fullTopics }) });
    expect(ok(canPublish(p, 'home/plug_1/tele/SENSOR'))).toBe(true);
    fullTopics = ['site/%topic%/%prefix%/'];
    expect(ok(canPublish(p, 'home/plug_1/tele/SENSOR'))).toBe(false);
    expect(ok(canPublish(p, 'site/plug_1/tele/SENSOR'))).toBe(true);
  });
});
