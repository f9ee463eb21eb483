/**
 * A start that follows a power cut of the gateway's host (devices/power-cut.ts): the host booted
 * shortly before and the last run did not stop (its DATA_DIR lock left). Then, for
 * POWER_CUT_WINDOW_MS, each native actuator's first news (a state other than its last one stored)
 * is its device coming back (the rules put a heater that came back off back on); not later news,
 * not a Tasmota's (its INFO3 says a boot), and a device's own word just said stays the reason.
 * Otherwise nothing changes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { POWER_CUT_WINDOW_MS, PowerCutWatch, powerCutAtStart, type PowerCutStart } from '../../../gateway/devices/power-cut.js';
import { CAME_BACK_WINDOW_MS } from '../../../gateway/devices/registry.js';
import { NativeRouter, type NativeOutcome } from '../../../gateway/devices/router.js';
import { lockDataDir } from '../../../gateway/storage/data-dir-lock.js';

const T0 = Date.UTC(2026, 10, 29, 5, 0);
const MAP = `actuators:
  hq/t1/heater: { device: tasmota:t1_relay, channel: 1 }
  hq/z1/heater: zigbee2mqtt:z1_plug
  hq/z2/heater: zigbee2mqtt:z2_plug
  hq/e1/heater: { device: esphome:e1-node, channel: relay }
  hq/g1/heater: { device: shelly:shelly1-a4cf12f3b1c2, channel: 0 }
`;
const CUT = powerCutAtStart({ bootMs: 600_000, leftBehind: true, now: T0, uptimeMs: 42_000 });

function router(start: PowerCutStart | undefined): NativeRouter {
  return new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant', powerCut: new PowerCutWatch(start) }, parseDeviceMap('devices.yaml', MAP));
}
const send = (r: NativeRouter, topic: string, payload: string, at: number): NativeOutcome => r.route(topic, Buffer.from(payload), at);
const backOf = (o: NativeOutcome): (string | undefined)[] => (o.outcome === 'placed' ? o.actuators.map((a) => a.cameBack) : []);

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('a start after a power cut of the gateway’s host', () => {
  it('is the host booted within POWER_CUT_BOOT_MS and the last run not stopped, both; 0 is never', () => {
    expect(CUT).toEqual({ why: "power cut of the gateway's host (it booted 42 s before this start; the last run did not stop)", until: T0 + POWER_CUT_WINDOW_MS });
    // The gateway alone killed on a host up for long; a reboot that stopped it cleanly; the setting 0.
    expect(powerCutAtStart({ bootMs: 600_000, leftBehind: true, now: T0, uptimeMs: 3 * 86_400_000 })).toBeUndefined();
    expect(powerCutAtStart({ bootMs: 600_000, leftBehind: false, now: T0, uptimeMs: 42_000 })).toBeUndefined();
    expect(powerCutAtStart({ bootMs: 0, leftBehind: true, now: T0, uptimeMs: 42_000 })).toBeUndefined();
  });

  it('the DATA_DIR lock says whether the last run stopped: released at a clean stop, left by a kill', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-power-cut-lock-'));
    dirs.push(dir);
    const log = pino({ level: 'silent' });
    const first = await lockDataDir(dir, log);
    expect(first.leftBehind).toBe(false);
    await first.stop();
    const second = await lockDataDir(dir, log);
    expect(second.leftBehind).toBe(false);
    // Not stopped (killed): the next start finds the lock, here with the same pid, as a container's after a reboot.
    expect((await lockDataDir(dir, log)).leftBehind).toBe(true);
  });

  it('each actuator’s first report (ESPHome, Zigbee2MQTT, Shelly Gen1) is its device coming back, for CAME_BACK_WINDOW_MS (some report twice); not later ones', () => {
    const r = router(CUT);
    send(r, 'e1-node/status', 'online', T0 + 20_000);
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'OFF', T0 + 20_100))).toEqual([CUT?.why]);
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + 25_000))).toEqual([CUT?.why]);
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + 26_000))).toEqual([CUT?.why]);
    expect(backOf(send(r, 'shellies/shelly1-a4cf12f3b1c2/relay/0', 'off', T0 + 30_000))).toEqual([CUT?.why]);
    // Past its window: a change by hand is one.
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'OFF', T0 + 20_100 + CAME_BACK_WINDOW_MS + 1))).toEqual([undefined]);
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + 25_000 + CAME_BACK_WINDOW_MS + 1))).toEqual([undefined]);
  });

  it('what the actuator last said before the cut is no news (a Zigbee2MQTT publishing its cached states at its start): its first other state is', () => {
    const r = router(CUT);
    // What the start seeds from the stored history (DevicesService.seedReports).
    r.actuatorStates.set(r.actuator('hq/z1/heater')!, { state: 'on' });
    r.actuatorStates.set(r.actuator('hq/e1/heater')!, { state: 'on' });
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"ON","power":1800}', T0 + 40_000))).toEqual([undefined]);
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'ON', T0 + 41_000))).toEqual([undefined]);
    // The plug's own report, minutes later: its power-on state.
    expect(backOf(send(r, 'zigbee2mqtt/z1_plug', '{"state":"OFF","power":0}', T0 + 300_000))).toEqual([CUT?.why]);
    // An actuator that came back on, as it was, then switched off by hand: its first news, taken as its coming back too (README says so).
    expect(backOf(send(r, 'e1-node/switch/relay/state', 'OFF', T0 + 400_000))).toEqual([CUT?.why]);
  });

  it('not a Tasmota’s (INFO3 says its boot, at its first connection after one); a device’s own word just said stays the reason', () => {
    const r = router(CUT);
    expect(backOf(send(r, 'stat/t1_relay/POWER1', 'OFF', T0 + 10_000))).toEqual([undefined]);
    send(r, 'zigbee2mqtt/bridge/event', JSON.stringify({ type: 'device_announce', data: { friendly_name: 'z2_plug', ieee_address: '0x01' } }), T0 + 11_000);
    expect(backOf(send(r, 'zigbee2mqtt/z2_plug', '{"state":"OFF"}', T0 + 11_100))).toEqual(['Zigbee2MQTT device_announce (rejoined)']);
  });

  it('only within POWER_CUT_WINDOW_MS of the start; and a start that does not follow one changes nothing', () => {
    const late = router(CUT);
    expect(backOf(send(late, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + POWER_CUT_WINDOW_MS + 1))).toEqual([undefined]);
    expect(backOf(send(late, 'e1-node/switch/relay/state', 'OFF', T0 + POWER_CUT_WINDOW_MS + 2))).toEqual([undefined]);
    const plain = router(undefined);
    expect(backOf(send(plain, 'zigbee2mqtt/z1_plug', '{"state":"OFF"}', T0 + 1_000))).toEqual([undefined]);
    expect(backOf(send(plain, 'e1-node/switch/relay/state', 'OFF', T0 + 1_000))).toEqual([undefined]);
  });
});
