/**
 * When a native device "just came back" (devices/outcome.ts, registry.ts CAME_BACK_WINDOW_MS):
 * its actuator reports then carry `cameBack`, and the rules put their last command back instead of
 * calling it a change by hand (rules/differing-report.ts). Only the device's own news counts: not
 * a retained availability read at start, nor its bridge coming back.
 */
import { describe, expect, it } from 'vitest';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { CAME_BACK_WINDOW_MS } from '../../../gateway/devices/registry.js';
import { NativeRouter, type NativeOutcome } from '../../../gateway/devices/router.js';

const T0 = Date.UTC(2026, 10, 29, 5, 0);
const MAP = `actuators:
  hq/t1/heater: { device: tasmota:t1_relay, channel: 1 }
  hq/z1/heater: zigbee2mqtt:z1_plug
  hq/e1/heater: { device: esphome:e1-node, channel: relay }
  hq/s1/heater: { device: shelly:shellyplus1-a8032abe2f18, channel: 0 }
devices:
  tasmota:t1_relay: { site: hq, zone: t1 }
`;

function router(): NativeRouter {
  return new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, parseDeviceMap('devices.yaml', MAP));
}
const send = (r: NativeRouter, topic: string, payload: string, at = T0): NativeOutcome => r.route(topic, Buffer.from(payload), at);
/** `cameBack` of each actuator report the message placed. */
const backOf = (o: NativeOutcome): (string | undefined)[] => (o.outcome === 'placed' ? o.actuators.map((a) => a.cameBack) : []);

describe('a device that just came back', () => {
  it('online after the gateway saw it go offline, for a firmware that does not say it restarted (ESPHome status): its reports for CAME_BACK_WINDOW_MS, not after', () => {
    const r = router();
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'ON'))).toEqual([undefined]);
    send(r, 'e1-node/status', 'offline', T0);
    send(r, 'e1-node/status', 'online', T0 + 5_000);
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'OFF', T0 + 5_100))).toEqual(['esphome availability online after offline']);
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'OFF', T0 + 5_000 + CAME_BACK_WINDOW_MS + 1))).toEqual([undefined]);
  });

  it('not: a Tasmota or a Zigbee2MQTT device back online with no restart said (a Wi-Fi or radio blip), so a change by hand just after stays one (found from outside)', () => {
    const r = router();
    expect(backOf(send(r, 'stat/t1_relay/POWER1', 'ON'))).toEqual([undefined]);
    send(r, 'tele/t1_relay/LWT', 'Offline', T0 + 1_000);
    send(r, 'tele/t1_relay/LWT', 'Online', T0 + 60_000);
    expect(backOf(send(r, 'stat/t1_relay/POWER1', 'OFF', T0 + 65_000))).toEqual([undefined]);
    send(r, 'zigbee2mqtt/z1_plug/availability', 'offline', T0 + 3_000);
    send(r, 'zigbee2mqtt/z1_plug/availability', 'online', T0 + 4_000);
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + 4_100))).toEqual([undefined]);
  });

  it('a Shelly Gen2 back online: its status says what set the output ("init" at power-on, else not: "button" is a hand)', () => {
    const r = router();
    const status = (source: string, output: boolean, at: number) => send(r, 'shellyplus1-a8032abe2f18/status/switch:0', JSON.stringify({ id: 0, source, output }), at);
    status('WS_in', true, T0);
    send(r, 'shellyplus1-a8032abe2f18/online', 'false', T0 + 1_000);
    send(r, 'shellyplus1-a8032abe2f18/online', 'true', T0 + 2_000);
    expect(backOf(status('button', false, T0 + 7_000))).toEqual([undefined]);
    expect(backOf(status('init', false, T0 + 8_000))).toEqual(['Shelly switch:0 status source "init" (set at power-on)']);
  });

  it('a Tasmota INFO3 (published once after a boot) and a Zigbee2MQTT device_announce, with no offline seen', () => {
    const r = router();
    send(r, 'tele/t1_relay/INFO3', '{"Info3":{"RestartReason":"Power On","BootCount":3}}');
    expect(backOf(send(r, 'stat/t1_relay/POWER1', 'OFF'))[0]).toContain('RestartReason "Power On"');
    send(r, 'zigbee2mqtt/bridge/event', '{"data":{"friendly_name":"z1_plug","ieee_address":"0xa4c138d2a1b2c3d4"},"type":"device_announce"}');
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF","linkquality":90}'))[0]).toContain('device_announce');
    // Another device's announce, or a device_joined, says nothing of this one.
    const other = router();
    send(other, 'zigbee2mqtt/bridge/event', '{"data":{"friendly_name":"z9_plug","ieee_address":"0x01"},"type":"device_announce"}');
    send(other, 'zigbee2mqtt/bridge/event', '{"data":{"friendly_name":"z1_plug","ieee_address":"0x02"},"type":"device_joined"}');
    expect(backOf(send(other, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}'))).toEqual([undefined]);
  });

  it('not: a retained offline read back at the gateway start, then the device reconnecting to the restarted broker', () => {
    const r = router();
    send(r, 'stat/t1_relay/POWER1', 'ON');
    // The gateway restarts: its broker's retained LWT (the will published as it stopped) is read back, not news.
    const restarted = router();
    restarted.registry.seen('tasmota', 't1_relay', T0);
    expect(restarted.relearn('tele/t1_relay/LWT', Buffer.from('Offline'), T0 + 1_000)).toBe(true);
    expect(restarted.registry.get('tasmota', 't1_relay')?.online).toBe(false);
    send(restarted, 'tele/t1_relay/LWT', 'Online', T0 + 2_000);
    expect(backOf(send(restarted, 'stat/t1_relay/POWER1', 'OFF', T0 + 2_100))).toEqual([undefined]);
  });

  it('not: a Zigbee2MQTT bridge coming back with its devices, nor an online said twice', () => {
    const r = router();
    send(r, 'zigbee2mqtt/z1_plug/availability', '{"state":"online"}');
    send(r, 'zigbee2mqtt/bridge/state', '{"state":"offline"}', T0 + 1_000);
    send(r, 'zigbee2mqtt/bridge/state', '{"state":"online"}', T0 + 2_000);
    send(r, 'zigbee2mqtt/z1_plug/availability', '{"state":"online"}', T0 + 2_100);
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + 2_200))).toEqual([undefined]);
  });
});
