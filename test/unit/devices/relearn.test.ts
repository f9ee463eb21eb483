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
});
