/**
 * One gateway's live page after a restart shows the actuator-only devices (a contract actuator
 * known by its status, a Tasmota relay by its LWT), what each actuator last reported, and which
 * devices were silent, as before the restart: read back from InfluxDB, before anything speaks again.
 *
 * A real gateway, real InfluxDB, real MQTT clients.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LiveSnapshot } from '../../gateway/http/live-types.js';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const MAP = { devices: { 'tasmota:f2_relay': { site: 'hq', zone: 'f2', device: 'f2-relay' } }, actuators: { 'hq/f2/lights': { device: 'tasmota:f2_relay', channel: 1 } } };

/** What a live page shows of devices (online, silent, where) and of reports, without times. */
function shown(s: LiveSnapshot) {
  return {
    devices: Object.fromEntries(s.devices.map((d) => [d.device, { site: d.site, zone: d.zone, online: d.online, silent: d.silent ?? false }])),
    reported: Object.fromEntries(Object.entries(s.reported).map(([k, r]) => [k, { state: r.state, device: r.device }])),
  };
}

describe('one gateway\'s live page after a restart', () => {
  it('shows the actuator-only devices, their reported states and the silences as before', { timeout: 90_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-live-act-'));
    const db = uniqueDb('restart_live_act');
    const env = { OFFLINE_AFTER_MS: '2000', STATS_INTERVAL_MS: '0' };
    let gw: TestGateway = await startWithMap(MAP, { dataDir, db, env });
    try {
      const live = async () => (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
      const hvac = await connect(gw.mqttUrl, { clientId: 'hvac-f1' });
      await hvac.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
      await hvac.publishAsync('devices/hvac-f1/status', 'online', { qos: 1, retain: true });
      await hvac.publishAsync('devices/hvac-f1/state', JSON.stringify({ mode: 'off' }), { qos: 1 });
      const relay = await connect(gw.mqttUrl, { clientId: 'f2_relay' });
      await relay.publishAsync('tele/f2_relay/LWT', 'Online', { qos: 1, retain: true });
      await relay.publishAsync('stat/f2_relay/POWER', 'ON', { qos: 1 });
      const sensor = await connect(gw.mqttUrl, { clientId: 't-quiet' });
      await sensor.publishAsync('sensors/hq/f3/t-quiet/temperature', JSON.stringify({ value: 20, id: 'q1' }), { qos: 1 });
      const before = shown(
        await waitFor(async () => {
          const s = await live();
          const { devices, reported } = shown(s);
          return devices['hvac-f1'] && devices['f2-relay'] && devices['t-quiet']?.silent && reported['hq/f1/hvac'] && reported['hq/f2/lights'] ? s : undefined;
        }, 'the actuators, their reports and the silent sensor on the live page', 30_000),
      );
      // Quiet longer than the sensor, the relay is not silent: it said Online (its LWT says when it
      // goes) and sends no readings, only its state on change.
      expect(before.devices['f2-relay']).toMatchObject({ online: true, silent: false });
      for (const c of [hvac, relay, sensor]) await c.endAsync(true);
      await gw.stop();
      gw = await startWithMap(MAP, { dataDir, db, env });
      const after = shown(await live());
      expect(after.devices).toEqual(before.devices);
      expect(after.reported).toEqual(before.reported);
    } finally {
      await gw.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
