/**
 * Fuzzing native-device messages through the whole ingest path (fast-check): topics shaped like
 * each family's (and discovery configs that teach more), payloads taken from the real corpus and
 * bent (values swapped for hostile ones, keys added, bytes cut), into a real gateway whose map
 * places the corpus's devices. Every message is stored (readings, status, actuator state),
 * dead-lettered with a reason, or counted (recognised, refused, duplicate); nothing throws,
 * nothing is logged as an error, and InfluxDB holds exactly the points the events make.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Family } from '../../gateway/devices/types.js';
import { esphomeFixtures } from '../fixtures/native/esphome.js';
import { discoveryFixtures } from '../fixtures/native/homeassistant.js';
import { shellyGen1Fixtures, shellyGen2Fixtures } from '../fixtures/native/shelly.js';
import { tasmotaFixtures } from '../fixtures/native/tasmota.js';
import { zigbee2mqttFixtures } from '../fixtures/native/zigbee2mqtt.js';
import type { TestGateway } from '../helpers/gateway.js';
import { FixturePlaces, startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';
import { HOSTILE } from './arbitraries.js';
import { Outcomes, storedPoints } from './outcomes.js';

const CASES = Number(process.env['FUZZ_NATIVE_N'] ?? 20_000);
const CORPUS: [Family, { topic: string; payload: string }[]][] = [
  ['zigbee2mqtt', zigbee2mqttFixtures],
  ['tasmota', tasmotaFixtures],
  ['shelly', [...shellyGen1Fixtures, ...shellyGen2Fixtures]],
  ['esphome', esphomeFixtures],
  ['homeassistant', discoveryFixtures],
];
const all = CORPUS.flatMap(([, f]) => f);

const now = Date.now();
const hostileScalar = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, 0, -1, 1e308, -1e308, 1e21, 5e-324, 'ON', 'OFF', 'open', 'close', 'nan', 'n/a', '', ' 21.5 ', '1e400', '{{ value }}', '{{ value_json.x * 2 }}', '__proto__'),
  fc.double(),
  fc.integer(),
  fc.integer({ min: now - 30 * 86_400_000, max: now + 10 * 60_000 }).map((t) => new Date(t).toISOString()),
  fc.integer({ min: now - 30 * 86_400_000, max: now + 10 * 60_000 }),
  fc.array(fc.constantFrom(...HOSTILE), { maxLength: 6 }).map((a) => a.join('')),
);

/** Every value of a JSON document, one level of objects deep, swapped with `pick` where it says so. */
function bend(doc: unknown, swap: readonly { at: number; value: unknown }[], extra: Record<string, unknown>): unknown {
  let i = 0;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    const s = swap.find((w) => w.at === i++);
    return s ? s.value : v;
  };
  const out = walk(doc);
  return typeof out === 'object' && out !== null && !Array.isArray(out) ? { ...out, ...extra } : out;
}

const bentPayload = fc
  .record({
    base: fc.constantFrom(...all),
    swap: fc.array(fc.record({ at: fc.nat({ max: 30 }), value: hostileScalar }), { maxLength: 4 }),
    extra: fc.dictionary(fc.constantFrom('pressure', 'voltage', 'voc', 'temperature', 'state', 'system_mode', 'Time', 'last_seen', 'ts', '__proto__', 'x'), hostileScalar, { maxKeys: 3 }),
    cut: fc.oneof({ weight: 9, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat({ max: 60 }) }),
  })
  .map(({ base, swap, extra, cut }) => {
    let text = base.payload;
    try {
      text = JSON.stringify(bend(JSON.parse(base.payload), swap, extra)) ?? base.payload;
    } catch {
      if (swap[0]) text = String(swap[0].value);
    }
    return { topic: base.topic, payload: Buffer.from(cut >= 0 ? text.slice(0, cut) : text) };
  });

const segment = fc.oneof(fc.constantFrom('weather_sensor', 'caldera', 'shellyht-CC2D76', 'f1-node', 'bridge', 'a/b/c', 'hq/f1/t1', 'x'), fc.stringMatching(/^[A-Za-z0-9_ -]{1,10}$/));
const shapedTopic = fc.oneof(
  segment.map((n) => `zigbee2mqtt/${n}`),
  fc.tuple(segment, fc.constantFrom('availability', 'set', 'get', 'power', 'state')).map(([n, s]) => `zigbee2mqtt/${n}/${s}`),
  fc.tuple(fc.constantFrom('tele', 'stat', 'cmnd'), segment, fc.constantFrom('SENSOR', 'STATE', 'LWT', 'RESULT', 'POWER', 'POWER2', 'INFO1')).map(([p, t, s]) => `${p}/${t}/${s}`),
  fc.tuple(segment, fc.constantFrom('sensor/temperature', 'sensor/state', 'relay/0', 'relay/0/power', 'online', 'announce')).map(([i, s]) => `shellies/${i}/${s}`),
  fc.tuple(segment, fc.constantFrom('status/switch:0', 'status/temperature:0', 'events/rpc', 'online', 'rpc')).map(([p, s]) => `${p}/${s}`),
  fc.tuple(segment, fc.constantFrom('sensor', 'binary_sensor', 'switch', 'light', 'climate'), segment, fc.constantFrom('state', 'command', 'mode/state')).map(([n, c, o, s]) => `${n}/${c}/${o}/${s}`),
  fc.tuple(fc.constantFrom('sensor', 'binary_sensor', 'switch', 'climate'), segment, segment).map(([c, n, o]) => `homeassistant/${c}/${n}/${o}/config`),
);
const shapedPayload = fc.oneof(
  fc.dictionary(fc.constantFrom('temperature', 'humidity', 'pressure', 'voltage', 'battery', 'contact', 'state', 'stat_t', 'val_tpl', 'avty_t', 'dev', 'method', 'params', 'ENERGY', 'tC'), hostileScalar, { maxKeys: 5 }).map((d) => JSON.stringify(d)),
  hostileScalar.map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
);
const message = fc.oneof(
  { weight: 3, arbitrary: bentPayload },
  { weight: 2, arbitrary: fc.tuple(shapedTopic, shapedPayload).map(([topic, payload]) => ({ topic, payload: Buffer.from(payload) })) },
  { weight: 1, arbitrary: fc.tuple(shapedTopic, fc.constantFrom(...all)).map(([topic, f]) => ({ topic, payload: Buffer.from(f.payload) })) },
);
const publish = fc.record({ m: message, qos: fc.constantFrom<0 | 1>(0, 0, 1), dup: fc.boolean(), messageId: fc.integer({ min: 1, max: 65535 }) }).map(({ m, ...rest }) => ({ ...m, ...rest }));

let gw: TestGateway;
let outcomes: Outcomes;

beforeAll(async () => {
  const places = new FixturePlaces();
  for (const [family, fixtures] of CORPUS) if (family !== 'homeassistant') places.add(family, fixtures as never);
  gw = await startWithMap(
    { kinds: { pressure: { unit: 'hPa', min: 300, max: 1100 }, voltage: { unit: 'V', min: 0, max: 1000 } }, devices: places.devices, actuators: places.actuators },
    { env: { LOG_LEVEL: 'error', PUBLISH_RATE: '0' }, rulesDir: '/nonexistent-rules-dir' },
  );
  outcomes = new Outcomes(gw.gateway);
});
afterAll(async () => {
  await gw?.stop();
});

describe('fuzzed native messages', () => {
  it(`${CASES.toLocaleString('en')} cases through ingest: each stored, dead-lettered or counted, never a throw`, () => {
    // Synchronous views of the counters a message can end in without an event.
    let counted = 0;
    const m = gw.gateway.metrics;
    const countNative = m.countNative.bind(m);
    m.countNative = (family, outcome) => {
      if (outcome === 'recognised' || outcome === 'refused' || outcome === 'unmapped') counted++;
      countNative(family, outcome);
    };
    const inc = m.duplicates.inc.bind(m.duplicates);
    m.duplicates.inc = ((...args: Parameters<typeof inc>) => {
      counted++;
      inc(...args);
    }) as typeof inc;
    fc.assert(
      fc.property(publish, (p) => {
        const before = outcomes.count;
        const countedBefore = counted;
        void gw.gateway.ingest.handle('fuzz-native', p);
        expect(outcomes.count - before + counted - countedBefore, `${p.topic} ${p.payload.toString()}`).toBeGreaterThan(0);
      }),
      { numRuns: CASES },
    );
    expect(outcomes.reasons.get('internal_error')).toBeUndefined();
    // The corpus's own messages, bent or not, still produce readings of both added kinds and the contract's.
    expect(Object.keys(outcomes.expected())).toEqual(expect.arrayContaining(['temperature', 'actuator_state', 'device_status', 'deadletters']));
  }, 180_000);

  it('stored every outcome in InfluxDB, and logged no error', async () => {
    const expected = outcomes.expected();
    await waitFor(async () => JSON.stringify(await storedPoints(gw.influxUrl, gw.db)) === JSON.stringify(expected), 'InfluxDB to hold every point', 90_000, 250).catch(() => undefined);
    expect(await storedPoints(gw.influxUrl, gw.db)).toEqual(expected);
    expect(outcomes.reasons.get('rejected_by_store')).toBeUndefined();
    expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
    expect([...outcomes.reasons.keys()].every((r) => /^(unknown_topic|payload_too_large|invalid_payload|clock_skew|unassigned_device)$/.test(r))).toBe(true);
  }, 120_000);
});
