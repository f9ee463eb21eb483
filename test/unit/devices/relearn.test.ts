/** Relearning at start (gateway/devices/relearn.ts) from retained messages whose owner nobody kept (a cluster's, from Redis). */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CredentialStore } from '../../../gateway/broker/credentials.js';
import { EMPTY_MAP } from '../../../gateway/devices/map.js';
import { relearnRetained } from '../../../gateway/devices/relearn.js';
import { NativeRouter } from '../../../gateway/devices/router.js';
import { bridgeDevicesPayload } from '../../fixtures/native/zigbee2mqtt-bridge-devices.js';

describe('relearning retained messages of no known owner', () => {
  it('reads a bridge’s device list under the base its topic names, not only the configured one', async () => {
    const router = new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, EMPTY_MAP);
    const retained = [{ topic: 'home/z2m/bridge/devices', payload: Buffer.from(bridgeDevicesPayload()) }];
    const result = await relearnRetained({
      broker: { restore: async () => undefined, retained: async function* () { yield* retained; } },
      ownerOf: () => undefined,
      access: { store: new CredentialStore('/nonexistent/credentials.json') },
      router,
      discoveryPrefix: 'homeassistant',
      now: Date.UTC(2026, 10, 29),
      log: pino({ level: 'silent' }),
    });
    expect(result).toEqual({ read: 1, learnt: 1 });
    expect(router.learnt.zigbee2mqttForm('home/z2m', 'window_ac_plug', undefined)).toBe('switch');
  });

  it('reads the availability devices and bridges retained (their wills): over what the history seeded, nothing made news', async () => {
    const router = new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, EMPTY_MAP);
    const now = Date.UTC(2026, 10, 29);
    // Seeded from the history (DevicesService.seed): the plug's status unknown, the sensor online by its own availability.
    for (const [family, id] of [['tasmota', 'kitchen_plug'], ['zigbee2mqtt', 'kitchen_climate'], ['shelly', 'shellyplus1-a8032abe2f18']] as const) router.registry.seen(family, id, now - 60_000);
    router.registry.get('zigbee2mqtt', 'kitchen_climate')!.online = true;
    const retained = [
      ['tele/kitchen_plug/LWT', 'Offline'],
      ['shellyplus1-a8032abe2f18/online', 'false'],
      ['zigbee2mqtt/kitchen_climate/availability', '{"state":"online"}'],
      ['zigbee2mqtt/bridge/state', '{"state":"offline"}'],
      // A device no one listed: not listed for its will alone.
      ['tele/garage_plug/LWT', 'Offline'],
    ].map(([topic, payload]) => ({ topic: topic!, payload: Buffer.from(payload!) }));
    const result = await relearnRetained({
      broker: { restore: async () => undefined, retained: async function* () { yield* retained; } },
      ownerOf: () => undefined,
      access: { store: new CredentialStore('/nonexistent/credentials.json') },
      router,
      discoveryPrefix: 'homeassistant',
      now,
      log: pino({ level: 'silent' }),
    });
    expect(result).toEqual({ read: 5, learnt: 4 });
    const online = Object.fromEntries(router.registry.view(() => undefined).map((d) => [d.key, d.online]));
    expect(online).toEqual({ 'tasmota:kitchen_plug': false, 'shelly:shellyplus1-a8032abe2f18': false, 'zigbee2mqtt:kitchen_climate': false });
    // Not heard: last seen stays the history's.
    expect(router.registry.get('tasmota', 'kitchen_plug')?.lastSeen).toBe(now - 60_000);
  });
});
