import { describe, expect, it } from 'vitest';
import { DeviceRegistry } from '../../../gateway/devices/registry.js';

describe('the device registry', () => {
  it('lists at most 100 discovery configs and unmapped keys of a device, and says when it leaves others out', () => {
    const registry = new DeviceRegistry();
    const e = registry.seen('homeassistant', 'node-1', 0);
    for (let i = 0; i < 105; i++) DeviceRegistry.discovered(e, `homeassistant/sensor/node-1/s${i}/config`, { component: 'sensor', objectId: `s${i}`, kind: null });
    for (let i = 0; i < 105; i++) DeviceRegistry.unmapped(e, `key${i}`);
    expect(e.discovery.size).toBe(100);
    expect(e.unmapped.size).toBe(100);
    expect(e.problems).toEqual(['more than 100 discovery configs: the others are not listed', 'more than 100 unmapped keys: the others are not listed']);
  });
});
