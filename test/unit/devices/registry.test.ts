import { describe, expect, it } from 'vitest';
import { Discovery } from '../../../gateway/devices/discovery.js';
import { DiscoveryIntake } from '../../../gateway/devices/discovery-intake.js';
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

describe('the device registry’s size', () => {
  it('cuts key names, problems and the sample, each cut told', () => {
    const cuts: string[] = [];
    const registry = new DeviceRegistry(10_000, { cut: (what) => void cuts.push(what) });
    const e = registry.seen('zigbee2mqtt', 'd', 0);
    DeviceRegistry.unmapped(e, 'k'.repeat(500));
    DeviceRegistry.problem(e, 'p'.repeat(5000));
    DeviceRegistry.sample(e, 'zigbee2mqtt/d', Buffer.from('z'.repeat(100_000)), 0);
    expect([...e.unmapped.keys()]).toEqual([`${'k'.repeat(100)}…`]);
    expect(e.problems[0]).toHaveLength(1001);
    expect(e.sample!.payload).toHaveLength(1025);
    expect(cuts).toEqual(['key', 'text', 'sample']);
  });

  it('forgets its oldest devices past its bytes budget, as past its count, each told', () => {
    const evicted: string[] = [];
    const registry = new DeviceRegistry(10_000, { maxBytes: 1_000_000, evicted: (map) => void evicted.push(map) });
    for (let i = 0; i < 200; i++) {
      const e = registry.seen('zigbee2mqtt', `dev_${i}`, i);
      for (let k = 0; k < 100; k++) DeviceRegistry.unmapped(e, `k${k}_${'x'.repeat(90)}`);
      DeviceRegistry.sample(e, `zigbee2mqtt/dev_${i}`, Buffer.from('y'.repeat(5000)), i);
    }
    expect(registry.bytes).toBeLessThanOrEqual(1_000_000);
    expect(registry.size).toBeLessThan(200);
    expect(registry.get('zigbee2mqtt', 'dev_199')).toBeDefined();
    expect(registry.get('zigbee2mqtt', 'dev_0')).toBeUndefined();
    expect(evicted.length).toBe(200 - registry.size);
    expect(new Set(evicted)).toEqual(new Set(['native_devices']));
  });
});

describe('the device registry’s size, counted', () => {
  it('comes back to nothing once every device is forgotten or renamed, whatever was held meanwhile', () => {
    const registry = new DeviceRegistry(2, { maxBytes: 1_000_000 });
    const a = registry.seen('zigbee2mqtt', 'a', 0);
    registry.seen('zigbee2mqtt', 'b', 0);
    registry.seen('zigbee2mqtt', 'c', 0);
    // `a` forgotten (past 2) but still held: what it grows is not counted.
    DeviceRegistry.unmapped(a, 'late');
    registry.rename('zigbee2mqtt', 'b', 'c');
    const [only] = [...registry.all()];
    expect(registry.size).toBe(1);
    expect(registry.bytes).toBe(only!.bytes);
  });
});

describe('the registry’s byte count when a discovery config goes (a reviewer)', () => {
  it('takes the note’s bytes back: removing and sending a config again 1,000 times leaves the count where it was', () => {
    const registry = new DeviceRegistry();
    const intake = new DiscoveryIntake({ discovery: new Discovery(), registry, discoveryPrefix: 'homeassistant', tasmota: () => undefined, changed: () => undefined });
    const topic = 'homeassistant/sensor/node1/t/config';
    const config = Buffer.from(JSON.stringify({ state_topic: 'node1/sensor/t/state', device_class: 'temperature', device: { identifiers: ['node1'] } }));
    intake.learn(topic, config, 1, undefined);
    const first = registry.bytes;
    for (let i = 0; i < 1000; i++) {
      intake.learn(topic, Buffer.alloc(0), 1, undefined);
      intake.learn(topic, config, 1, undefined);
    }
    expect(registry.get('homeassistant', 'node1')?.discovery.size).toBe(1);
    expect(registry.bytes).toBe(first);
  });
});
