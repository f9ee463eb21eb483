/**
 * ESPHome's MQTT component: `<node>/<component>/<object id>/state` with bare values (`23.5`,
 * `ON`/`OFF`, `nan` when a sensor has no value), commands on `…/command`; climates publish
 * `<node>/climate/<id>/mode/state`, `target_temperature/state`, `current_temperature/state`…;
 * `<node>/status` is the birth/last-will `online`/`offline`; `<node>/debug` the log. Text sensors
 * publish under `sensor/` as numeric ones do. The node
 * prefix is the node name or its `topic_prefix` (which may contain `/`).
 */
import { Collector, NOT_MINE, recognised } from '../collect.js';
import { isObject, own, parseJson, payloadText, toNumber, toOnOff } from '../normalise.js';
import { esphomeObjectId, type ActuatorState, type ContractKind, type DecodeOptions, type DecodeResult, type EncodeResult, type NativeCommand } from '../types.js';

const FAMILY = 'esphome';

const ENTITY = /^(.+)\/(sensor|binary_sensor|switch|light|fan|text_sensor|number|select|text|lock|cover|valve|button|date|time|datetime|event|update|alarm_control_panel)\/([^/]+)\/(state|command)$/;
const CLIMATE = /^(.+)\/climate\/([^/]+)\/(mode|target_temperature|target_temperature_low|target_temperature_high|current_temperature|current_humidity|target_humidity|action|fan_mode|swing_mode|preset|away)\/(state|command)$/;

/** The last word of an object id that names a kind, per component (`garage_temperature` → temperature). */
const SENSOR_WORDS: Readonly<Record<string, ContractKind>> = {
  temperature: 'temperature',
  humidity: 'humidity',
  co2: 'co2',
  illuminance: 'illuminance',
  lux: 'illuminance',
  power: 'power',
  battery: 'battery',
};
const BINARY_WORDS: Readonly<Record<string, ContractKind>> = {
  motion: 'motion',
  pir: 'motion',
  occupancy: 'occupancy',
  presence: 'occupancy',
  contact: 'contact',
  door: 'contact',
  window: 'contact',
  smoke: 'smoke',
};

function kindFor(node: string, component: string, objectId: string, options: DecodeOptions): ContractKind | null {
  const key = `${component}/${objectId}`;
  const table = options.esphomeKinds;
  for (const scope of [node, '*']) {
    const byNode = table && Object.prototype.hasOwnProperty.call(table, scope) ? table[scope] : undefined;
    if (byNode && Object.prototype.hasOwnProperty.call(byNode, key)) return byNode[key] ?? null;
  }
  const words = component === 'sensor' ? SENSOR_WORDS : component === 'binary_sensor' ? BINARY_WORDS : undefined;
  const last = objectId.split('_').pop() ?? '';
  return words && Object.prototype.hasOwnProperty.call(words, last) ? words[last]! : null;
}

/** A sensor's announced unit (discovery's `unit_of_meas`), as the collector takes it: °F/K converted to °C, kW scaled to W. */
function unitOf(node: string, key: string, kind: ContractKind | null, options: DecodeOptions): { unit?: string; scale?: number } {
  const units = options.esphomeUnits;
  const byNode = units && Object.prototype.hasOwnProperty.call(units, node) ? units[node] : undefined;
  const unit = byNode && Object.prototype.hasOwnProperty.call(byNode, key) ? byNode[key] : undefined;
  if (unit === undefined) return {};
  if (kind === 'temperature') return { unit };
  return kind === 'power' && unit === 'kW' ? { scale: 1000 } : {};
}

export function decode(topic: string, payload: Buffer, options: DecodeOptions = {}): DecodeResult {
  if (topic.startsWith('shellies/')) return NOT_MINE; // Shelly Gen1 has `…/light/0/command` too
  const text = payloadText(payload);
  let m = ENTITY.exec(topic);
  if (m?.[1] && m[2] && m[3] && m[4]) return entity(m[1], m[2], m[3], m[4], text, options);
  m = CLIMATE.exec(topic);
  if (m?.[1] && m[2] && m[3] && m[4]) return climate(m[1], m[2], m[3], m[4], text);
  if (topic.startsWith('esphome/discover')) return recognised(FAMILY, undefined, 'device discovery');
  m = /^(.+)\/status$/.exec(topic);
  if (m?.[1] && (text === 'online' || text === 'offline')) return { outcome: 'availability', family: FAMILY, nativeId: m[1], online: text === 'online', scope: 'device' };
  m = /^(.+)\/debug$/.exec(topic);
  if (m?.[1]) return recognised(FAMILY, m[1], 'log (debug topic)');
  return NOT_MINE;
}

function entity(node: string, component: string, objectId: string, direction: string, text: string, options: DecodeOptions): DecodeResult {
  if (direction === 'command') return recognised(FAMILY, node, `command (${component}/${objectId})`);
  const key = `${component}/${objectId}`;
  const c = new Collector(FAMILY, node);
  switch (component) {
    case 'sensor': {
      const kind = kindFor(node, component, objectId, options);
      // Text sensors publish under `sensor/` too (MQTTTextSensor::component_type() is "sensor"), so
      // an unmapped non-number is kept as text; `nan` is what a numeric sensor without a value sends.
      if (kind === null && text.trim().toLowerCase() === 'nan') c.problem(`${key} is "nan", not a number`);
      else c.add(key, kind, text, { channel: objectId, ...unitOf(node, key, kind, options) });
      break;
    }
    case 'binary_sensor': {
      const kind = kindFor(node, component, objectId, options);
      if (kind === null) {
        const b = toOnOff(text);
        if (b === null) c.problem(`${key} is ${JSON.stringify(text.slice(0, 40))}, not ON/OFF`);
        else c.unmapped(key, b === 'on', undefined, objectId);
      } else c.add(key, kind, text, { channel: objectId });
      break;
    }
    case 'switch':
    case 'fan': {
      const s = toOnOff(text);
      if (s === null) c.problem(`${key} is ${JSON.stringify(text.slice(0, 40))}, not ON/OFF`);
      else c.actuator({ channel: objectId, state: { state: s } });
      break;
    }
    case 'light': {
      // ESPHome lights use the JSON schema: {"state":"ON","brightness":255,…}
      const p = parseJson(text);
      const obj = p.ok && isObject(p.value) ? p.value : undefined;
      const s = toOnOff(obj ? own(obj, 'state') : text);
      if (s === null) c.problem(`${key} has no ON/OFF state`);
      else {
        const state: ActuatorState = { state: s };
        const b = obj ? toNumber(own(obj, 'brightness')) : null;
        if (b !== null) state['brightness'] = b;
        c.actuator({ channel: objectId, state });
      }
      break;
    }
    default:
      c.unmapped(key, text, undefined, objectId);
  }
  return c.result();
}

function climate(node: string, id: string, attribute: string, direction: string, text: string): DecodeResult {
  if (direction === 'command') return recognised(FAMILY, node, `command (climate/${id}/${attribute})`);
  const key = `climate/${id}/${attribute}`;
  const c = new Collector(FAMILY, node);
  switch (attribute) {
    case 'mode':
      if (text.trim() === '') c.problem(`${key} is empty`);
      else c.actuator({ channel: id, state: { mode: text.trim() } });
      break;
    case 'target_temperature': {
      const n = toNumber(text);
      if (n === null) c.problem(`${key} is ${JSON.stringify(text.slice(0, 40))}, not a number`);
      else c.actuator({ channel: id, state: { setpoint: n } });
      break;
    }
    case 'current_temperature':
      c.add(key, 'temperature', text, { channel: id });
      break;
    case 'current_humidity':
      c.add(key, 'humidity', text, { channel: id });
      break;
    default:
      c.unmapped(key, text, undefined, id);
  }
  return c.result();
}

/**
 * On/off: `<node>/switch/<id>/command` `ON` (channel = the switch's object id; `light:<id>` for a
 * light, which takes JSON; `fan:<id>` for a fan, which takes `ON`/`OFF` as a switch does:
 * esphome/components/mqtt/mqtt_fan.cpp parses its command with parse_on_off). HVAC: `<node>/climate/<id>/mode/command` and
 * `…/target_temperature/command`.
 */
export function encode(nativeId: string, channel: string | undefined, command: NativeCommand): EncodeResult {
  if (nativeId === '' || /[#+]/.test(nativeId)) return { ok: false, reason: `esphome: "${nativeId}" is not a node prefix` };
  if (channel === undefined || channel === '' || /[/#+]/.test(esphomeObjectId(channel))) {
    return { ok: false, reason: `esphome:${nativeId}: the channel must name the switch or climate object id (light:<id> for a light, fan:<id> for a fan)` };
  }
  if ('state' in command) {
    if (channel.startsWith('light:')) {
      return { ok: true, publishes: [{ topic: `${nativeId}/light/${channel.slice(6)}/command`, payload: JSON.stringify({ state: command.state.toUpperCase() }) }] };
    }
    if (channel.startsWith('fan:')) return { ok: true, publishes: [{ topic: `${nativeId}/fan/${channel.slice(4)}/command`, payload: command.state.toUpperCase() }] };
    return { ok: true, publishes: [{ topic: `${nativeId}/switch/${channel}/command`, payload: command.state.toUpperCase() }] };
  }
  if ('attribute' in command) return { ok: false, reason: `esphome:${nativeId}: a setpoint alone is not sent to an ESPHome climate` };
  const publishes = [{ topic: `${nativeId}/climate/${channel}/mode/command`, payload: command.mode }];
  if (command.setpoint !== undefined) publishes.push({ topic: `${nativeId}/climate/${channel}/target_temperature/command`, payload: String(command.setpoint) });
  return { ok: true, publishes };
}
