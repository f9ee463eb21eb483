/**
 * `npm run simulate -- --family …` at the end: each family's devices say offline the way their
 * firmware does when it goes away (retained, on the topics that said online), so the gateway lists
 * them offline; a clean disconnect drops the last will, so the will alone never said it. And the
 * run prints a progress line while it runs, as the contract simulator does.
 */
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';
import { FAMILY_SIMS, NATIVE_FAMILIES, type NativeFamily } from '../../simulators/native-families.js';
import { fleetMap, runNativeSimulation, simulatedFleet } from '../../simulators/native.js';

/** Where each family says whether it is online, and what it says when it is not. */
const OFFLINE: Record<NativeFamily, { filter: string; online: string; offline: string }[]> = {
  zigbee2mqtt: [
    { filter: 'zigbee2mqtt/bridge/state', online: '{"state":"online"}', offline: '{"state":"offline"}' },
    { filter: 'zigbee2mqtt/+/availability', online: '{"state":"online"}', offline: '{"state":"offline"}' },
  ],
  tasmota: [{ filter: 'tele/+/LWT', online: 'Online', offline: 'Offline' }],
  shelly: [
    { filter: 'shellies/+/online', online: 'true', offline: 'false' },
    { filter: '+/online', online: 'true', offline: 'false' },
  ],
  esphome: [{ filter: '+/status', online: 'online', offline: 'offline' }],
  homeassistant: [{ filter: 'home/+/status', online: 'online', offline: 'offline' }],
};

/** The retained messages on `filters` now, by topic. */
async function retained(client: MqttClient, filters: string[]): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  const listener = (topic: string, payload: Buffer, packet: { retain: boolean }): void => void (packet.retain && got.set(topic, payload.toString()));
  client.on('message', listener);
  await client.subscribeAsync(filters, { qos: 1 });
  // The retained messages are sent on subscribing: one of our own after them marks their end.
  await client.subscribeAsync('retained-probe/done', { qos: 1 });
  let probed: () => void = () => undefined;
  const probe = (topic: string): void => void (topic === 'retained-probe/done' && probed());
  const arrived = new Promise<void>((resolve) => (probed = resolve));
  client.on('message', probe);
  await client.publishAsync('retained-probe/done', 'x', { qos: 1 });
  await arrived;
  client.off('message', probe);
  client.off('message', listener);
  await client.unsubscribeAsync([...filters, 'retained-probe/done']);
  return got;
}

describe('simulated native devices at the end of a run', () => {
  it.each(NATIVE_FAMILIES)('%s: every device says offline as its firmware does, and is listed offline', async (family) => {
    const fleet = simulatedFleet(family, 4, 'sim');
    const gw = await startWithMap(fleetMap(family, fleet));
    const watcher = await connect(gw.mqttUrl, { clientId: `watcher-${family}` });
    try {
      const filters = OFFLINE[family].map((o) => o.filter);
      const summary = await runNativeSimulation({ url: gw.mqttUrl, family, devices: 4, rate: 0, count: 8, prefix: 'sim' });
      expect(summary).toMatchObject({ failed: 0, unacknowledged: 0 });

      const after = await retained(watcher, filters);
      const saidOnline = FAMILY_SIMS[family].connections(fleet).flatMap((c) => c.birth.filter((m) => OFFLINE[family].some((o) => o.online === m.payload)));
      expect(saidOnline.length).toBeGreaterThan(0);
      for (const m of saidOnline) expect({ topic: m.topic, payload: after.get(m.topic) }).toEqual({ topic: m.topic, payload: OFFLINE[family].find((o) => o.online === m.payload)!.offline });

      const keys = new Set(fleet.map((d) => FAMILY_SIMS[family].nativeKey(d).key));
      const listed = await waitFor(async () => {
        const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; online: boolean | null }[] };
        const ours = api.devices.filter((d) => keys.has(d.key));
        return ours.length === keys.size && ours.every((d) => d.online === false) ? ours : undefined;
      }, `every ${family} device listed offline`).catch(async (e: Error) => {
        const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; online: boolean | null }[] };
        throw new Error(`${e.message}: ${JSON.stringify(api.devices.map((d) => [d.key, d.online]))}`);
      });
      expect(listed).toHaveLength(4);
    } finally {
      await watcher.endAsync();
      await gw.stop();
    }
  });

  it('npm run simulate --family prints a progress line while it runs, and --help says how each family says offline', async () => {
    const family = 'zigbee2mqtt';
    const gw = await startWithMap(fleetMap(family, simulatedFleet(family, 2, 'sim')));
    try {
      const run = await runTs('simulators/cli.ts', ['--url', gw.mqttUrl, '--family', family, '--devices', '2', '--rate', '2', '--duration', '3']);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/^sent \d+, acked \d+, failed 0, \d+\/s, \d+\.\d+s$/m);
      const help = await runTs('simulators/cli.ts', ['--help']);
      expect(help.stdout).toMatch(/Zigbee2MQTT .*bridge\/state/);
      expect(help.stdout).toMatch(/Tasmota .*LWT/);
    } finally {
      await gw.stop();
    }
  });
});
