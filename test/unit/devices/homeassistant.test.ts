import { describe, expect, it } from 'vitest';
import { decode, decodeState, encode, parseDiscovery, type DiscoveredEntity } from '../../../gateway/devices/families/homeassistant.js';
import { compileTemplate } from '../../../gateway/devices/template.js';
import { discoveredStateFixtures, discoveryFixtures } from '../../fixtures/native/homeassistant.js';
import type { NativeFixture } from '../../fixtures/native/fixture.js';
import { expectFixture } from './expect-fixture.js';

function learn(fixtures: readonly NativeFixture[]): DiscoveredEntity[] {
  const out: DiscoveredEntity[] = [];
  for (const f of fixtures) {
    const r = parseDiscovery(f.topic, Buffer.from(f.payload), f.options);
    if (r.outcome === 'discovered') out.push(r.entity);
  }
  return out;
}

describe('Home Assistant discovery configs as firmwares publish them', () => {
  it.each(discoveryFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const r = parseDiscovery(f.topic, Buffer.from(f.payload), f.options);
    const e = f.expect;
    if ('discovered' in e) {
      expect(r.outcome, JSON.stringify(r)).toBe('discovered');
      if (r.outcome !== 'discovered') return;
      const d = e.discovered;
      expect(r.entity).toMatchObject({ nativeId: d.nativeId, component: d.component, kind: d.kind });
      if (d.stateTopic !== undefined) expect(r.entity.state?.topic).toBe(d.stateTopic);
      if (d.unit !== undefined) expect(r.entity.unit).toBe(d.unit);
      if (d.availabilityTopics !== undefined) expect(r.entity.availability.map((a) => a.topic)).toEqual(d.availabilityTopics);
      if (d.commandTopic !== undefined) expect(r.entity.commandTopic).toBe(d.commandTopic);
      if (d.climate !== undefined) {
        expect(r.entity.climate?.modeCommandTopic).toBe(d.climate.modeCommandTopic);
        expect(r.entity.climate?.temperatureCommandTopic).toBe(d.climate.temperatureCommandTopic);
        expect(r.entity.climate?.mode?.topic).toBe(d.climate.modeStateTopic);
      }
    } else if ('refused' in e) {
      expect(r.outcome).toBe('refused');
      if (r.outcome === 'refused') expect(r.reason).toContain(e.refused.reason);
      // The family decoder turns a refusal into a failure naming the config, never a throw.
      expect(decode(f.topic, Buffer.from(f.payload))).toMatchObject({ outcome: 'failure' });
    } else {
      expectFixture(f, decode(f.topic, Buffer.from(f.payload), f.options));
    }
  });

  const entities = learn(discoveryFixtures);
  it.each(discoveredStateFixtures.map((f) => [f.name, f] as const))('state: %s', (_name, f) => {
    expectFixture(f, decodeState(entities, f.topic, Buffer.from(f.payload)));
  });
});

describe('Home Assistant discovery', () => {
  it('expands ~ at the start or end of topics', () => {
    const r = parseDiscovery('homeassistant/switch/plug1/relay/config', Buffer.from('{"~":"shellyplus1-a/","name":"Relay","cmd_t":"~rpc","stat_t":"~status/switch:0","val_tpl":"{{ value_json.output }}","pl_on":"{\\"method\\":\\"Switch.Set\\",\\"params\\":{\\"id\\":0,\\"on\\":true}}","pl_off":"off","avty_t":"~online","pl_avail":"true","pl_not_avail":"false"}'));
    expect(r).toMatchObject({ outcome: 'discovered', entity: { nativeId: 'plug1', commandTopic: 'shellyplus1-a/rpc', state: { topic: 'shellyplus1-a/status/switch:0' }, availability: [{ topic: 'shellyplus1-a/online', payloadAvailable: 'true' }] } });
  });
  it('reads the contact of a Zigbee2MQTT door sensor through payload_on false', () => {
    const entities = learn(discoveryFixtures);
    const r = decodeState(entities, 'zigbee2mqtt/porte', Buffer.from('{"battery":100,"contact":false,"linkquality":160}'));
    expect(r).toMatchObject({ outcome: 'decoded', readings: [{ key: 'binary_sensor/contact', kind: 'contact', value: true }] });
  });
  it('reads a climate state: mode and setpoint as actuator state, current temperature as a reading (synthetic payload)', () => {
    const entities = learn(discoveryFixtures);
    const r = decodeState(entities, 'zigbee2mqtt/TS0601_thermostat', Buffer.from('{"current_heating_setpoint":21,"local_temperature":19.5,"system_mode":"heat"}'));
    expect(r).toMatchObject({ outcome: 'decoded', actuators: [{ channel: 'climate', state: { mode: 'heat', setpoint: 21 } }], readings: [{ kind: 'temperature', value: 19.5 }] });
  });
  it('says nothing of an entity that yields no reading when its key is absent (Zigbee2MQTT’s update entity), and reads the rest', () => {
    // Zigbee2MQTT's homeassistant extension: each device's update entity reads value_json['update'], present only once an OTA check ran.
    const update = parseDiscovery('homeassistant/update/0x00158d0000001000/update/config', Buffer.from(JSON.stringify({ state_topic: 'zigbee2mqtt/weather_0', value_template: "{{ value_json['update']['installed_version'] }}", device: { identifiers: ['zigbee2mqtt_0x00158d0000001000'] } })));
    const temperature = parseDiscovery('homeassistant/sensor/0x00158d0000001000/temperature/config', Buffer.from(JSON.stringify({ state_topic: 'zigbee2mqtt/weather_0', value_template: '{{ value_json.temperature }}', device_class: 'temperature', unit_of_measurement: '°C', device: { identifiers: ['zigbee2mqtt_0x00158d0000001000'] } })));
    expect([update.outcome, temperature.outcome]).toEqual(['discovered', 'discovered']);
    if (update.outcome !== 'discovered' || temperature.outcome !== 'discovered') return;
    const r = decodeState([update.entity, temperature.entity], 'zigbee2mqtt/weather_0', Buffer.from('{"temperature":21.5,"linkquality":120}'));
    expect(r).toMatchObject({ outcome: 'decoded', readings: [{ kind: 'temperature', value: 21.5 }] });
    expect(r.outcome === 'decoded' ? (r.problems ?? []) : ['not decoded']).toEqual([]);
  });

  it('converts a °F sensor and refuses a template it does not understand', () => {
    const f = parseDiscovery('homeassistant/sensor/n/t/config', Buffer.from('{"stat_t":"n/t","unit_of_meas":"°F","dev_cla":"temperature"}'));
    expect(f.outcome).toBe('discovered');
    if (f.outcome === 'discovered') expect(decodeState([f.entity], 'n/t', Buffer.from('71.6'))).toMatchObject({ readings: [{ value: 22 }] });
    expect(parseDiscovery('homeassistant/sensor/n/t/config', Buffer.from('{"stat_t":"n/t","val_tpl":"{{ value | multiply(2) }}"}'))).toMatchObject({ outcome: 'refused', reason: expect.stringContaining('multiply') });
  });
  it('refuses configs that are not JSON objects, and has no prototype surprises', () => {
    expect(parseDiscovery('homeassistant/sensor/n/t/config', Buffer.from('[1]'))).toMatchObject({ outcome: 'refused' });
    const r = parseDiscovery('homeassistant/sensor/n/t/config', Buffer.from('{"__proto__":{"stat_t":"evil"},"constructor":"x"}'));
    expect(r).toMatchObject({ outcome: 'refused', reason: 'no state_topic' });
  });
  it('sends switch and climate commands on the discovered topics', () => {
    const entities = learn(discoveryFixtures);
    const climate = entities.find((e) => e.component === 'climate')!;
    expect(encode(climate, { mode: 'heat', setpoint: 21 })).toEqual({
      ok: true,
      publishes: [
        { topic: 'zigbee2mqtt/TS0601_thermostat/set/system_mode', payload: 'heat' },
        { topic: 'zigbee2mqtt/TS0601_thermostat/set/current_heating_setpoint', payload: '21' },
      ],
    });
    const sw = parseDiscovery('homeassistant/switch/0xa4c1389d9b178ece/switch/config', Buffer.from('{"command_topic":"zigbee2mqtt/0xa4c1389d9b178ece/set","state_topic":"zigbee2mqtt/0xa4c1389d9b178ece","value_template":"{{ value_json.state }}","payload_on":"ON","payload_off":"OFF"}'));
    if (sw.outcome !== 'discovered') throw new Error('switch config refused');
    expect(encode(sw.entity, { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'zigbee2mqtt/0xa4c1389d9b178ece/set', payload: 'ON' }] });
    expect(encode(sw.entity, { mode: 'cool' })).toMatchObject({ ok: false });
  });
  it('reads a switch’s state by state_on/state_off, and commands it by payload_on/payload_off (Home Assistant’s MqttSwitch)', () => {
    const sw = parseDiscovery('homeassistant/switch/h1/relay/config', Buffer.from('{"stat_t":"h1/relay/state","cmd_t":"h1/relay/set","pl_on":"1","pl_off":"0","stat_on":"on","stat_off":"off"}'));
    if (sw.outcome !== 'discovered') throw new Error('switch config refused');
    expect(decodeState([sw.entity], 'h1/relay/state', Buffer.from('on'))).toMatchObject({ outcome: 'decoded', actuators: [{ channel: 'relay', state: { state: 'on' } }] });
    expect(decodeState([sw.entity], 'h1/relay/state', Buffer.from('off'))).toMatchObject({ outcome: 'decoded', actuators: [{ channel: 'relay', state: { state: 'off' } }] });
    expect(decodeState([sw.entity], 'h1/relay/state', Buffer.from('1'))).toMatchObject({ outcome: 'failure', detail: 'homeassistant:h1: switch/relay is "1", neither state_on "on" nor state_off "off"' });
    expect(encode(sw.entity, { state: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'h1/relay/set', payload: '0' }] });
  });
});

describe('value templates', () => {
  it.each([
    ['{{ value }}', '21.5', '21.5'],
    ['{{ value | float }}', '21.5', 21.5],
    ['{{ value_json.temperature }}', '{"temperature":20.1}', 20.1],
    ['{{value_json.temperature}}', '{"temperature":20.1}', 20.1],
    ['{{ value_json["local_temperature"] }}', '{"local_temperature":19}', 19],
    ["{{value_json['DS18B20-2']['Temperature']}}", '{"DS18B20-2":{"Temperature":21.8}}', 21.8],
    ['{{ value_json.list[1] }}', '{"list":[1,2]}', 2],
    ['{{ value_json.t | float | round(1) }}', '{"t":"21.46"}', 21.5],
    ['{{ value_json.t | int }}', '{"t":21.9}', 21],
    ['{{ value_json.t | float(0) }}', '{"t":"n/a"}', 0],
  ])('%s on %s gives %j', (tpl, payload, want) => {
    const c = compileTemplate(tpl);
    expect(c.ok).toBe(true);
    if (c.ok) expect(c.extract(payload)).toEqual({ ok: true, value: want });
  });

  it.each([
    '{% if value_json.x %}1{% endif %}',
    '{{ value_json.x if value_json.x is defined else 0 }}',
    '{{ values[value_json.x] }}',
    '{{ value_json.x | lower }}',
    '{{ value_json.x }} °C',
    '{{ value_json }}',
    'plain text',
  ])('refuses %s with the reason', (tpl) => {
    const c = compileTemplate(tpl);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.reason).toMatch(/^unsupported template .*: .*; only \{\{ value \}\}/);
  });

  it('says what is missing instead of guessing', () => {
    const c = compileTemplate('{{ value_json.a.b }}');
    if (!c.ok) throw new Error(c.reason);
    expect(c.extract('{"a":{}}')).toEqual({ ok: false, why: 'value_json.a.b is missing' });
    expect(c.extract('not json')).toEqual({ ok: false, why: 'payload is not JSON, so value_json.a.b has no value' });
    expect(c.extract('{"a":{"b":null}}')).toEqual({ ok: false, why: 'value_json.a.b is null' });
    expect(c.extract('{"a":{"b":{"c":1}}}')).toEqual({ ok: false, why: 'value_json.a.b is not a single value' });
    expect(compileTemplate('{{ value_json.__proto__ }}').ok).toBe(true);
    const p = compileTemplate('{{ value_json.constructor }}');
    if (p.ok) expect(p.extract('{}')).toEqual({ ok: false, why: 'value_json.constructor is missing' });
  });
});

describe('a JSON-schema light (ESPHome’s mqtt_light.cpp: "schema":"json")', () => {
  const config = { schema: 'json', color_mode: true, supported_color_modes: ['brightness'], brightness: true, name: 'Desk', stat_t: 'desk-node/light/desk/state', cmd_t: 'desk-node/light/desk/command', avty_t: 'desk-node/status', uniq_id: 'x', dev: { ids: 'a0b765f3c1d4', name: 'desk-node' } };
  const r = parseDiscovery('homeassistant/light/desk-node/desk/config', Buffer.from(JSON.stringify(config)));
  const light = r.outcome === 'discovered' ? r.entity : undefined;

  it('reads the "state" of its JSON state', () => {
    expect(decodeState([light!], 'desk-node/light/desk/state', Buffer.from('{"state":"ON","brightness":128,"color_mode":"brightness"}'))).toMatchObject({ outcome: 'decoded', actuators: [{ channel: 'desk', state: { state: 'on' } }] });
    expect(decodeState([light!], 'desk-node/light/desk/state', Buffer.from('ON'))).toMatchObject({ outcome: 'failure' });
  });
  it('is switched with {"state":"ON"} on its command topic', () => {
    expect(encode(light!, { state: 'on' })).toEqual({ ok: true, publishes: [{ topic: 'desk-node/light/desk/command', payload: '{"state":"ON"}' }] });
  });
  it('a light without schema keeps payload_on/payload_off', () => {
    const plain = parseDiscovery('homeassistant/light/n/l/config', Buffer.from(JSON.stringify({ ...config, schema: undefined })));
    expect(plain.outcome === 'discovered' && encode(plain.entity, { state: 'off' })).toEqual({ ok: true, publishes: [{ topic: 'desk-node/light/desk/command', payload: 'OFF' }] });
  });
});

describe('what one discovery config may hold (CONFIG_CAPS)', () => {
  const cfg = (extra: Record<string, unknown>) => Buffer.from(JSON.stringify({ name: 'x'.repeat(14_000), uniq_id: 'x'.repeat(14_000), stat_t: 'esp1/sensor/t/state', dev_cla: 'temperature', dev: { ids: ['esp1'] }, ...extra }));
  const topic = 'homeassistant/sensor/esp1/t/config';
  const avty = (n: number, long = 0) => Array.from({ length: n }, (_, j) => ({ t: `esp1/a/${'y'.repeat(long)}${j}` }));

  it('keeps only what the gateway reads: not the name, unique id or device (held by the thousand)', () => {
    const r = parseDiscovery(topic, cfg({ avty: avty(16) }));
    expect(r.outcome).toBe('discovered');
    expect(JSON.stringify(r).length).toBeLessThan(4_000);
  });

  it.each([
    ['17 availability entries', { avty: avty(17) }, /17 availability entries, more than 16/],
    ['the tester’s 2,300', { avty: avty(2_300) }, /2300 availability entries/],
    ['an availability topic over 512 characters', { avty: avty(1, 600) }, /a topic longer than 512/],
    ['a state topic over 512 characters', { stat_t: `esp1/${'s'.repeat(600)}` }, /a topic longer than 512/],
    ['a payload_on of 14 KB', { pl_on: 'x'.repeat(14_000) }, /longer than 256/],
    ['a device identifier of 1 KB', { dev: { ids: ['e'.repeat(1_000)] } }, /longer than 256/],
  ])('refuses a config with %s, as too large, named after its node', (_what, extra, reason) => {
    const r = parseDiscovery(topic, cfg(extra));
    expect(r).toMatchObject({ outcome: 'refused', tooLarge: true, nativeId: 'esp1', reason: expect.stringMatching(reason) });
  });
});
