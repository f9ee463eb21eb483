/**
 * No decoder, discovery parser, template compiler or encoder throws, whatever it is given: random
 * topics shaped like each family's, garbage bytes, JSON with prototype keys, huge and non-finite
 * numbers. Every answer is one of the outcomes, with values of the kind's type.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode as esphome, encode as esphomeEncode } from '../../../gateway/devices/families/esphome.js';
import { compileMapping, decode as generic } from '../../../gateway/devices/families/generic.js';
import { decode as homeassistant, decodeState, encode as haEncode, parseDiscovery, type DiscoveredEntity } from '../../../gateway/devices/families/homeassistant.js';
import { decode as shelly, encode as shellyEncode } from '../../../gateway/devices/families/shelly.js';
import { decode as tasmota, encode as tasmotaEncode } from '../../../gateway/devices/families/tasmota.js';
import { decode as zigbee2mqtt, encode as zigbee2mqttEncode } from '../../../gateway/devices/families/zigbee2mqtt.js';
import { decodeAny } from '../../../gateway/devices/index.js';
import { compileTemplate } from '../../../gateway/devices/template.js';
import type { DecodeResult, NativeCommand } from '../../../gateway/devices/types.js';
import { discoveryFixtures } from '../../fixtures/native/homeassistant.js';

const RUNS = 1500;

const WORDS = [
  'zigbee2mqtt', 'bridge', 'state', 'availability', 'set', 'get', 'logging', 'tele', 'stat', 'cmnd', 'SENSOR', 'STATE', 'LWT', 'RESULT',
  'POWER', 'POWER1', 'POWER99', 'INFO1', 'shellies', 'announce', 'online', 'sensor', 'temperature', 'relay', 'light', 'emeter', 'power',
  'ext_temperature', 'status', 'events', 'rpc', 'switch:0', 'temperature:0', 'devicepower:0', 'command', 'debug', 'climate', 'mode',
  'target_temperature', 'current_temperature', 'binary_sensor', 'switch', 'homeassistant', 'config', '0', '1', '', '#', '+', '__proto__',
  'constructor', 'prototype', 'toString', 'hasOwnProperty', 'é', '\u0000',
];
const KEYS = [
  'temperature', 'humidity', 'co2', 'illuminance', 'illuminance_lux', 'occupancy', 'contact', 'smoke', 'power', 'battery', 'state', 'state_l1',
  'system_mode', 'occupied_heating_setpoint', 'occupied_cooling_setpoint', 'last_seen', 'Time', 'TempUnit', 'AM2301', 'ENERGY', 'Temperature',
  'Power', 'POWER', 'POWER2', 'method', 'params', 'ts', 'switch:0', 'temperature:0', 'tC', 'rh', 'output', 'apower', 'battery', 'percent',
  'ison', 'brightness', 'stat_t', 'state_topic', 'val_tpl', 'value_template', 'avty', 'availability', 't', 'topic', '~', 'dev', 'ids',
  'device', 'identifiers', 'pl_on', 'payload_on', 'mode_command_topic', 'mode_state_topic', 'mode_state_template', '__proto__', 'constructor',
];
const NUMBERS = [0, -0, 1, -1, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER, 2 ** 53 + 1, 1e21, 1.5, 1669541352.21, 1573393389829];
const TEXTS = ['ON', 'OFF', 'on', 'off', 'true', 'false', 'Online', 'Offline', 'online', 'offline', 'open', 'close', 'nan', 'NaN', 'Infinity', '1e400', '-', '', ' ', 'n/a', '{{ value }}', '{{ value_json.temperature }}', '{{ value_json["x"] | float | round(2) }}', '{% if %}', '2026-07-27T09:41:41+02:00', '2026-13-45T99:99Z'];

const scalar = fc.oneof(fc.constantFrom<unknown>(...NUMBERS, ...TEXTS, null, true, false), fc.double(), fc.integer(), fc.string({ maxLength: 12 }));
const json: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })), tie('value'), { maxKeys: 6 }),
  ),
})).value;

/** JSON text with a literal "__proto__" key (JSON.stringify of a dictionary never writes one itself). */
const protoJson = json.map((v) => `{"__proto__":${JSON.stringify(v) ?? 'null'},"constructor":{"prototype":{"x":1}},"temperature":${JSON.stringify(v) ?? 'null'}}`);

const topic = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 7 }).map((p) => p.join('/')),
  fc.string({ maxLength: 40 }),
);
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  json.map((v) => Buffer.from(JSON.stringify(v) ?? '')),
  protoJson.map((s) => Buffer.from(s)),
  fc.constantFrom(...TEXTS).map((s) => Buffer.from(s)),
  fc.constantFrom('{"temperature":1e400}', '{"ENERGY":{"Power":[1e999,"x",null]}}', '[1,2', '{"a":'.repeat(2000), `"${'x'.repeat(70_000)}"`).map((s) => Buffer.from(s)),
);

const entities: DiscoveredEntity[] = discoveryFixtures.flatMap((f) => {
  const r = parseDiscovery(f.topic, Buffer.from(f.payload));
  return r.outcome === 'discovered' ? [r.entity] : [];
});
const mapping = compileMapping({ name: 'fz', topic: 'fz/{id}/#', id: '{id}', format: 'json', fields: [{ path: 'a.b[0]', kind: 'temperature' }, { path: 'c', kind: 'contact' }, { path: '__proto__.x' }], time: { path: 't', format: 'unix' } });
const mappings = mapping.ok ? [mapping.compiled] : [];

const OUTCOMES = new Set(['decoded', 'availability', 'recognised', 'failure', 'not_mine']);
const NUMERIC = new Set(['temperature', 'humidity', 'co2', 'illuminance', 'power', 'battery']);

function wellFormed(r: DecodeResult): void {
  expect(OUTCOMES.has(r.outcome)).toBe(true);
  if (r.outcome === 'decoded') {
    for (const x of r.readings) {
      if (x.kind === null) continue;
      if (NUMERIC.has(x.kind)) expect(typeof x.value === 'number' && Number.isFinite(x.value)).toBe(true);
      else if (x.kind === 'keypad') expect(['ok', 'fail']).toContain(x.value);
      else expect(typeof x.value).toBe('boolean');
    }
    if (r.ts !== undefined) expect(Number.isFinite(Date.parse(r.ts))).toBe(true);
    for (const p of r.problems) expect(p.startsWith(`${r.family}:`)).toBe(true);
  }
  if (r.outcome === 'failure') expect(r.detail.startsWith(r.family)).toBe(true);
}

const decoders: [string, (t: string, p: Buffer) => DecodeResult][] = [
  ['zigbee2mqtt', (t, p) => zigbee2mqtt(t, p)],
  ['tasmota', (t, p) => tasmota(t, p, { tasmota: { fullTopics: ['%prefix%/%topic%/', '%topic%/%prefix%/', 'a/+/%prefix%/%topic%/'] } })],
  ['shelly', (t, p) => shelly(t, p, { shellyFahrenheit: ['x'] })],
  ['esphome', (t, p) => esphome(t, p, { esphomeKinds: { '*': { 'sensor/x': 'co2' } } })],
  ['homeassistant (configs)', (t, p) => homeassistant(t, p)],
  ['homeassistant (discovered state)', (t, p) => decodeState(entities, t, p)],
  ['generic', (t, p) => generic(mappings, t, p)],
  ['any', (t, p) => decodeAny(t, p, { discovered: entities, mappings })],
];

describe('native decoders never throw', () => {
  it.each(decoders)('%s: arbitrary topics and payloads', (_name, dec) => {
    fc.assert(
      fc.property(topic, payload, (t, p) => {
        wellFormed(dec(t, p));
      }),
      { numRuns: RUNS },
    );
  });

  it.each(decoders)('%s: family-shaped topics with JSON bodies', (_name, dec) => {
    const shaped = fc.tuple(fc.constantFrom('zigbee2mqtt/dev', 'tele/t1/SENSOR', 'stat/t1/RESULT', 'tele/t1/STATE', 'shellies/s1/sensor/temperature', 'p/status/switch:0', 'p/events/rpc', 'homeassistant/sensor/n/o/config', 'tele/caldera/SENSOR', 'zigbee2mqtt/TS0601_thermostat', 'fz/d/x', 'n/climate/c/target_temperature/state'), json);
    fc.assert(
      fc.property(shaped, ([t, v]) => {
        wellFormed(dec(t, Buffer.from(JSON.stringify(v) ?? '')));
        wellFormed(dec(t, Buffer.from(JSON.stringify({ method: 'NotifyStatus', params: v }))));
      }),
      { numRuns: RUNS },
    );
  });

  it('discovery configs: arbitrary JSON never throws, and an accepted one decodes anything', () => {
    fc.assert(
      fc.property(json, payload, (cfg, p) => {
        const r = parseDiscovery('homeassistant/sensor/n/o/config', Buffer.from(JSON.stringify(cfg) ?? ''));
        if (r.outcome === 'discovered') {
          wellFormed(decodeState([r.entity], r.entity.state?.topic ?? 'x', p));
          expect(() => haEncode(r.entity, { mode: 'heat', setpoint: 1 })).not.toThrow();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('templates: arbitrary text compiles or is refused, and extraction never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom(...TEXTS), fc.constantFrom('{{ value_json.__proto__.x }}', '{{ value_json["constructor"]["prototype"] }}', '{{ value_json[0][1] | round(9) }}')), payload, (tpl, p) => {
        const c = compileTemplate(tpl);
        if (c.ok) expect(() => c.extract(p.toString('utf8'))).not.toThrow();
        else expect(c.reason).toContain('unsupported template');
      }),
      { numRuns: RUNS },
    );
  });

  it('encoders: arbitrary ids, channels and commands give publishes or a reason', () => {
    const command: fc.Arbitrary<NativeCommand> = fc.oneof(fc.constantFrom<NativeCommand>({ state: 'on' }, { state: 'off' }), fc.record({ mode: fc.string({ maxLength: 8 }), setpoint: fc.option(fc.double(), { nil: undefined }) }).map((c) => (c.setpoint === undefined ? { mode: c.mode } : { mode: c.mode, setpoint: c.setpoint })));
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.option(fc.string({ maxLength: 6 }), { nil: undefined }), command, (id, ch, cmd) => {
        for (const r of [zigbee2mqttEncode(id, ch, cmd), tasmotaEncode(id, ch, cmd), shellyEncode(id, ch, cmd), esphomeEncode(id, ch, cmd)]) {
          if (r.ok) for (const p of r.publishes) expect(typeof p.topic === 'string' && typeof p.payload === 'string').toBe(true);
          else expect(r.reason.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves Object.prototype untouched', () => {
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});
