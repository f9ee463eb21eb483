import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Discovery, MAX_ENTITIES, entityBytes } from '../../../gateway/devices/discovery.js';
import type { DiscoveredEntity } from '../../../gateway/devices/families/homeassistant.js';
import type { ContractKind } from '../../../gateway/devices/types.js';

const ESPHOME_STATE = /^(.+)\/(sensor|binary_sensor)\/([^/]+)\/state$/;

/** The index as the gateway built it before (from every entity, on every change): what the kept index must equal. */
function rebuilt(entities: Iterable<DiscoveredEntity>): { byTopic: Map<string, DiscoveredEntity[]>; kinds: Record<string, Record<string, ContractKind>> } {
  const byTopic = new Map<string, DiscoveredEntity[]>();
  const kinds: Record<string, Record<string, ContractKind>> = {};
  const add = (topic: string | undefined, e: DiscoveredEntity): void => {
    if (topic === undefined) return;
    const list = byTopic.get(topic) ?? [];
    if (!list.includes(e)) list.push(e);
    byTopic.set(topic, list);
  };
  for (const e of entities) {
    add(e.state?.topic, e);
    add(e.climate?.mode?.topic, e);
    add(e.climate?.setpoint?.topic, e);
    add(e.climate?.current?.topic, e);
    for (const a of e.availability) add(a.topic, e);
    const m = e.state ? ESPHOME_STATE.exec(e.state.topic) : null;
    if (m?.[1] && m[2] && m[3] && e.kind !== null) (kinds[m[1]] ??= {})[`${m[2]}/${m[3]}`] = e.kind;
  }
  return { byTopic, kinds };
}

/** A few topics shared among a few configs, so that entities read the same topics and replace each other. */
const TOPICS = ['n1/sensor/t/state', 'n1/binary_sensor/door/state', 'n2/sensor/t/state', 'z2m/lamp', 'n1/status', 'bridge/state'];
const topic = fc.constantFrom(...TOPICS);
const entity = fc
  .record({
    config: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    state: fc.option(topic, { nil: undefined }),
    climate: fc.option(topic, { nil: undefined }),
    availability: fc.array(topic, { maxLength: 2 }),
    kind: fc.constantFrom<ContractKind | null>('temperature', 'contact', 'humidity', null),
    nativeId: fc.constantFrom('n1', 'n2'),
  })
  .map(
    (r): DiscoveredEntity => ({
      component: 'sensor',
      objectId: r.config,
      configTopic: `homeassistant/sensor/${r.config}/config`,
      nativeId: r.nativeId,
      kind: r.kind,
      ...(r.state ? { state: { topic: r.state } } : {}),
      ...(r.climate ? { climate: { current: { topic: r.climate } } } : {}),
      payloadOn: 'ON',
      payloadOff: 'OFF',
      availability: r.availability.map((t) => ({ topic: t })),
      availabilityMode: 'latest',
    }) as unknown as DiscoveredEntity,
  );
const op = fc.oneof(
  entity.map((e) => ({ learn: e })),
  fc.constantFrom('a', 'b', 'c', 'd', 'e').map((c) => ({ forget: `homeassistant/sensor/${c}/config` })),
);

describe('discovery: the entities learnt from Home Assistant configs, indexed by the topics they read', () => {
  it('keeps the same index, reader order and ESPHome kinds as rebuilding it from every entity after each change', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const discovery = new Discovery();
        // The reference keeps configs in the order they first came, as a Map does.
        const held = new Map<string, DiscoveredEntity>();
        for (const o of ops) {
          if ('learn' in o) {
            discovery.learn(o.learn);
            held.set(o.learn.configTopic, o.learn);
          } else {
            discovery.forget(o.forget);
            held.delete(o.forget);
          }
          const want = rebuilt(held.values());
          for (const t of TOPICS) expect(discovery.readers(t).map((e) => JSON.stringify(e))).toEqual((want.byTopic.get(t) ?? []).map((e) => JSON.stringify(e)));
          expect(discovery.esphomeKinds()).toEqual(want.kinds);
          expect([...discovery.entities()]).toEqual([...held.values()]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('says what learning did: a new entity, the same one again, or none when it holds the most it keeps (until one is forgotten)', () => {
    const discovery = new Discovery();
    const sensor = (i: number): DiscoveredEntity =>
      ({ component: 'sensor', objectId: `s${i}`, configTopic: `homeassistant/sensor/s${i}/config`, nativeId: `n${i}`, kind: 'temperature', state: { topic: `n${i}/sensor/t/state` }, payloadOn: 'ON', payloadOff: 'OFF', availability: [], availabilityMode: 'latest' }) as unknown as DiscoveredEntity;
    for (let i = 0; i < MAX_ENTITIES; i++) expect(discovery.learn(sensor(i))).toBe('learnt');
    expect(discovery.learn(sensor(0))).toBe('same');
    expect(discovery.learn(sensor(MAX_ENTITIES))).toBe('full');
    expect(discovery.readers(`n${MAX_ENTITIES}/sensor/t/state`)).toEqual([]);
    // A changed config of one already held is still taken.
    expect(discovery.learn({ ...sensor(1), kind: 'humidity' })).toBe('learnt');
    expect(discovery.esphomeKinds()['n1']).toEqual({ 'sensor/t': 'humidity' });
    discovery.forget(sensor(2).configTopic);
    expect(discovery.learn(sensor(MAX_ENTITIES))).toBe('learnt');
    expect(discovery.size).toBe(MAX_ENTITIES);
  });

  it('holds the most it keeps on one shared availability topic (a Zigbee2MQTT bridge), readers in order, and lets them go', () => {
    const discovery = new Discovery();
    const bridged = (i: number): DiscoveredEntity =>
      ({ component: 'sensor', objectId: `b${i}`, configTopic: `homeassistant/sensor/b${i}/config`, nativeId: `0x${i}`, kind: 'temperature', state: { topic: `zigbee2mqtt/0x${i}` }, payloadOn: 'ON', payloadOff: 'OFF', availability: [{ topic: 'zigbee2mqtt/bridge/state' }], availabilityMode: 'latest' }) as unknown as DiscoveredEntity;
    for (let i = 0; i < MAX_ENTITIES; i++) discovery.learn(bridged(i));
    const readers = discovery.readers('zigbee2mqtt/bridge/state');
    expect(readers).toHaveLength(MAX_ENTITIES);
    expect([readers[0]?.objectId, readers.at(-1)?.objectId]).toEqual(['b0', `b${MAX_ENTITIES - 1}`]);
    // A changed config keeps its place among the readers.
    discovery.learn({ ...bridged(5), kind: 'humidity' });
    expect(discovery.readers('zigbee2mqtt/bridge/state')[5]).toMatchObject({ objectId: 'b5', kind: 'humidity' });
    for (let i = 0; i < MAX_ENTITIES; i += 2) discovery.forget(bridged(i).configTopic);
    expect(discovery.readers('zigbee2mqtt/bridge/state')).toHaveLength(MAX_ENTITIES / 2);
  });
});

describe('ESPHome units learnt from discovery (audit)', () => {
  it('keeps the announced unit of a node’s sensor beside its kind, and forgets it with the config', async () => {
    const { Discovery } = await import('../../../gateway/devices/discovery.js');
    const { parseDiscovery } = await import('../../../gateway/devices/families/homeassistant.js');
    const d = new Discovery();
    const topic = 'homeassistant/sensor/porch-node/porch_t/config';
    const r = parseDiscovery(topic, Buffer.from(JSON.stringify({ dev_cla: 'temperature', unit_of_meas: '°F', stat_t: 'porch-node/sensor/porch_t/state', dev: { ids: 'x' } })));
    if (r.outcome !== 'discovered') throw new Error(JSON.stringify(r));
    d.learn(r.entity);
    expect(d.esphomeUnits()).toEqual({ 'porch-node': { 'sensor/porch_t': '°F' } });
    expect(d.esphomeKinds()).toEqual({ 'porch-node': { 'sensor/porch_t': 'temperature' } });
    d.forget(topic);
    expect(d.esphomeUnits()).toEqual({});
    expect(d.esphomeKinds()).toEqual({});
  });
});

describe('discovery bounds: bytes as well as entities, and each sender’s share', () => {
  const sensor = (i: number, availability = 0): DiscoveredEntity =>
    ({
      component: 'sensor',
      objectId: `s${i}`,
      configTopic: `homeassistant/sensor/s${i}/config`,
      nativeId: `n${i}`,
      kind: 'temperature',
      state: { topic: `n${i}/sensor/t/state`, template: '{{ value }}' },
      payloadOn: 'ON',
      payloadOff: 'OFF',
      availability: Array.from({ length: availability }, (_, j) => ({ topic: `n${i}/a/${'y'.repeat(400)}/${j}`, template: '{{ value }}', payloadAvailable: 'online', payloadNotAvailable: 'offline' })),
      availabilityMode: 'latest',
    }) as unknown as DiscoveredEntity;

  it('refuses a new entity past the bytes it holds (estimated), takes a changed one within them, and frees them with the config', () => {
    const small = entityBytes(sensor(0));
    const large = entityBytes(sensor(0, 16));
    expect(large).toBeGreaterThan(10 * small);
    const discovery = new Discovery({ maxEntities: 100, maxBytes: 2 * large });
    expect(discovery.learn(sensor(1, 16))).toBe('learnt');
    expect(discovery.learn(sensor(2, 16))).toBe('learnt');
    expect(discovery.bytes).toBe(2 * large);
    // Few entities, but the bytes are held: a new one is refused, even a small one.
    expect(discovery.learn(sensor(3))).toBe('full');
    // A changed config frees what it held before.
    expect(discovery.learn(sensor(2))).toBe('learnt');
    expect(discovery.bytes).toBe(large + small);
    expect(discovery.learn(sensor(3))).toBe('learnt');
    discovery.forget(sensor(1).configTopic);
    discovery.forget(sensor(2).configTopic);
    discovery.forget(sensor(3).configTopic);
    expect([discovery.size, discovery.bytes]).toEqual([0, 0]);
  });
});

describe('discovery shares', () => {
  const sensor = (i: number): DiscoveredEntity =>
    ({ component: 'sensor', objectId: `s${i}`, configTopic: `homeassistant/sensor/s${i}/config`, nativeId: `n${i}`, kind: 'temperature', state: { topic: `n${i}/sensor/t/state`, template: '{{ value }}' }, payloadOn: 'ON', payloadOff: 'OFF', availability: [], availabilityMode: 'latest' }) as unknown as DiscoveredEntity;
  const esp1 = { key: 'native\u0000esphome:esp1', share: 'native' } as const;
  const esp2 = { key: 'native\u0000esphome:esp2', share: 'native' } as const;
  const z2m = { key: 'bridge\u0000zigbee2mqtt\u0000zigbee2mqtt', share: 'bridge' } as const;

  it('holds a native device’s credential to a twentieth of the table, a bridge’s to half, and no sender crowds out another', () => {
    const discovery = new Discovery({ maxEntities: 200, maxBytes: 1e9 });
    expect(discovery.shareOf('native').maxEntities).toBe(10);
    for (let i = 0; i < 10; i++) expect(discovery.learn(sensor(i), esp1)).toBe('learnt');
    expect(discovery.learn(sensor(10), esp1)).toBe('share');
    // Its own held config, changed, is still taken; another device's credential is not held back.
    expect(discovery.learn({ ...sensor(3), kind: 'humidity' }, esp1)).toBe('learnt');
    expect(discovery.learn(sensor(11), esp2)).toBe('learnt');
    for (let i = 100; i < 200; i++) expect(discovery.learn(sensor(i), z2m)).toBe('learnt');
    expect(discovery.learn(sensor(200), z2m)).toBe('share');
    // An admin's (no sender) only the whole table.
    for (let i = 300; i < 300 + 200 - 111; i++) expect(discovery.learn(sensor(i))).toBe('learnt');
    expect(discovery.learn(sensor(12), esp2)).toBe('full');
    // A config forgotten frees its sender's place.
    discovery.forget(sensor(0).configTopic);
    discovery.forget(sensor(300).configTopic);
    expect(discovery.learn(sensor(10), esp1)).toBe('learnt');
  });

  it('holds a sender to its share of the bytes too', () => {
    const one = entityBytes(sensor(0));
    const discovery = new Discovery({ maxEntities: 1_000, maxBytes: 20 * 3 * one });
    for (let i = 0; i < 3; i++) expect(discovery.learn(sensor(i), esp1)).toBe('learnt');
    expect(discovery.learn(sensor(3), esp1)).toBe('share');
    expect(discovery.learn(sensor(3), esp2)).toBe('learnt');
  });

  it('moves a config taken over by another sender to its share', () => {
    const discovery = new Discovery({ maxEntities: 20, maxBytes: 1e9 });
    expect(discovery.learn(sensor(0), esp1)).toBe('learnt');
    expect(discovery.learn(sensor(1), esp1)).toBe('share');
    // esp1's config taken over by the bridge (its share is 1): esp1 has room again.
    expect(discovery.learn({ ...sensor(0), kind: 'humidity' }, z2m)).toBe('learnt');
    expect(discovery.learn(sensor(1), esp1)).toBe('learnt');
    expect(discovery.learn(sensor(2), esp1)).toBe('share');
  });
});
