/**
 * A Zigbee2MQTT plug that reports its state only when it changes, across the gateway's restart. It
 * sends no readings, so its bridge's word is what says it is there: not silent however long it is
 * quiet, before the restart and after it once the bridge reconnects and says it is online
 * (Zigbee2MQTT publishes `bridge/state` online at every connect, lib/mqtt.ts `onConnect`, and
 * repeats no device's availability: that stays retained in the broker).
 *
 * Real gateway on a manual clock, real InfluxDB, real MQTT clients on the firmware's own topics.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import type { DeviceState, LiveSnapshot } from '../../gateway/http/live.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const m = 60_000;
// Two plugs: one with Zigbee2MQTT's availability feature on (its own retained `availability`), one without.
const MAP = {
  devices: { 'zigbee2mqtt:f1_plug': { site: 'hq', zone: 'f1' }, 'zigbee2mqtt:f2_plug': { site: 'hq', zone: 'f2' }, 'zigbee2mqtt:f3_temp': { site: 'hq', zone: 'f3' } },
  actuators: { 'hq/f1/light': 'zigbee2mqtt:f1_plug', 'hq/f2/light': 'zigbee2mqtt:f2_plug' },
};
const WILL = { topic: 'zigbee2mqtt/bridge/state', payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1 as const, retain: true };

let dataDir: string;
const db = uniqueDb('restart_quiet_relay');
let clock: ManualClock;
let gw: TestGateway;
let bridge: MqttClient | undefined;
let withWill = true;

const devices = async (): Promise<Record<string, DeviceState>> => {
  const state = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
  return Object.fromEntries(state.devices.map((d) => [d.device, d]));
};
const quietFor = (ms: number): Promise<void> => advanceRules(gw, clock, ms);

/** The bridge as Zigbee2MQTT connects (lib/mqtt.ts: a retained will `{"state":"offline"}`, then `online`). */
async function bridgeOnline(): Promise<MqttClient> {
  const c = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt-bridge', ...(withWill ? { will: WILL } : {}) });
  await c.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  return c;
}

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startWithMap(MAP, { clock, dataDir, db, env: { STATS_INTERVAL_MS: '0', OFFLINE_AFTER_MS: String(5 * m) } });
}

describe.each([
  ["the bridge's will published at the stop", true],
  // As when the gateway is killed: no will is published, the bridge's stored word stays online.
  ['no will published (the gateway killed)', false],
])('%s', (_case, will) => {
  beforeAll(async () => {
    withWill = will;
    dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-relay-'));
    await start(Date.now());
    bridge = await bridgeOnline();
    await bridge.publishAsync('zigbee2mqtt/f1_plug/availability', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
    await bridge.publishAsync('zigbee2mqtt/f1_plug', JSON.stringify({ state: 'OFF', linkquality: 120 }), { qos: 1 });
    await bridge.publishAsync('zigbee2mqtt/f2_plug', JSON.stringify({ state: 'OFF', linkquality: 110 }), { qos: 1 });
    // And, to show the watch at work, a sensor that reported once and went quiet.
    await bridge.publishAsync('zigbee2mqtt/f3_temp', JSON.stringify({ temperature: 21.5, linkquality: 90 }), { qos: 1 });
    await waitFor(async () => {
      const d = await devices();
      return d['f1_plug']?.online === true && 'f3_temp' in d;
    }, 'f1_plug online and f3_temp on the live page');
  });

  afterAll(async () => {
    await bridge?.endAsync(true);
    await gw?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('a Zigbee2MQTT plug that reports only on change', () => {
    it('is not silent while its bridge is online and it is quiet', async () => {
      await quietFor(6 * m);
      const d = await devices();
      expect([d['f1_plug']?.silent ?? false, d['f2_plug']?.silent ?? false]).toEqual([false, false]);
      expect(d['f3_temp']?.silent).toBe(true);
    });

    it('after a restart, once its bridge reconnects, is online and not silent however long it is quiet', async () => {
      // The bridge connected at the stop, as it is: the gateway publishes its will then, if it has one.
      const at = clock.now();
      await gw.stop();
      await bridge?.endAsync(true);
      await start(at);
      bridge = await bridgeOnline();
      await waitFor(async () => (await devices())['f1_plug']?.online === true, 'f1_plug online again');
      await quietFor(6 * m);
      await quietFor(6 * m);
      const d = await devices();
      expect([d['f1_plug']?.silent ?? false, d['f2_plug']?.silent ?? false]).toEqual([false, false]);
      expect(d['f1_plug']?.online).toBe(true);
    });
  });
});
