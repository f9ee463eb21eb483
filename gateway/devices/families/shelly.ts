/**
 * Shelly, both generations (family `shelly`).
 *
 * Gen1: `shellies/<id>/…`, one bare value per topic: `sensor/temperature` `24.75`, `sensor/state`
 * `open`/`close`, `relay/<n>` `on`/`off`/`overpower`, `relay/<n>/power`, `online` `true`/`false`,
 * a Shelly Motion's `status` JSON, and `shellies/announce`. Lights: `light/<n>` (dimmers, white
 * bulbs), `color/0` (RGBW2 in colour mode, colour bulbs), `white/<n>` (RGBW2 in white mode), each
 * `on`/`off` and a `…/status` JSON with `ison`. Commands: shelly-commands.ts.
 *
 * Gen2/Plus/Pro: `<prefix>/status/<component>:<n>` carries the component's status JSON
 * (`switch:0` `{"output":true,"apower":11.5,…}`, `temperature:0` `{"tC":24.4}`),
 * `<prefix>/events/rpc` NotifyStatus / NotifyFullStatus with `params.ts` in float seconds,
 * `<prefix>/online` `true`/`false`. Commands: `<prefix>/rpc` `{"id":N,"src":…,"method":"Switch.Set",…}`, N per request,
 * the method that of the output's component (`light:0`: `Light.Set`), which its status teaches.
 */
import { Collector, NOT_MINE, failure, recognised, teach } from '../collect.js';
import { epochToIso, isObject, isScalar, own, parseJson, parseObject, payloadText, toBool, toNumber, toOnOff, type Json, type JsonObject } from '../normalise.js';
import { isShellyOutput, type ContractKind, type DecodeOptions, type DecodeResult, type Learnt, type ShellyOutput } from '../types.js';
import { announcedMode, announcement } from './shelly-announce.js';
import { fullOutputs, outputLearner, taught } from './shelly-outputs.js';
import { rpcFrame } from './shelly-rpc.js';

export { encode } from './shelly-commands.js';

const FAMILY = 'shelly';

/** Gen2+ component types whose status carries no reading (housekeeping). */
const HOUSEKEEPING = new Set(['sys', 'wifi', 'cloud', 'mqtt', 'ble', 'ws', 'eth', 'ht_ui', 'ui', 'script', 'knx', 'matter', 'plugs_ui', 'modbus', 'zigbee', 'bthome', 'wd_ui', 'sensor_ui']);
/** Gen2+ component types decoded into readings or actuator state; others are kept as unmapped keys. */
const KNOWN = new Set([...HOUSEKEEPING, 'switch', 'light', 'cover', 'input', 'temperature', 'humidity', 'devicepower', 'illuminance', 'smoke', 'flood', 'pm1', 'em', 'em1', 'emdata', 'em1data', 'voltmeter', 'boolean', 'number', 'text', 'enum', 'button', 'group', 'bthomesensor', 'bthomedevice', 'rgb', 'rgbw', 'cct', 'rgbcct', 'presence', 'presencezone']);
const COMPONENT = /^([a-z][a-z0-9_]*)(?::(\d+))?$/;

export function decode(topic: string, payload: Buffer, options: DecodeOptions = {}): DecodeResult {
  const text = payloadText(payload);
  const gen2 = decodeGen2(topic, text, options);
  if (gen2) return gen2;
  if (topic.startsWith('shellies/')) return decodeGen1(topic, text, options);
  return NOT_MINE;
}

// ---------------------------------------------------------------- Gen1

const GEN1_SENSORS: Readonly<Record<string, ContractKind>> = {
  temperature: 'temperature',
  humidity: 'humidity',
  battery: 'battery',
  lux: 'illuminance',
  state: 'contact',
  motion: 'motion',
  smoke: 'smoke',
};

function decodeGen1(topic: string, text: string, options: DecodeOptions): DecodeResult {
  const parts = topic.split('/');
  if (parts.length === 2) {
    if (parts[1] === 'announce') return announcement(text, options);
    if (parts[1] === 'command') return recognised(FAMILY, undefined, 'command to all Shellies');
    return NOT_MINE;
  }
  const id = parts[1];
  if (id === undefined || id === '') return NOT_MINE;
  const path = parts.slice(2);
  const key = path.join('/');
  const [a, b, c] = path;

  if (key === 'online') {
    const t = text.trim();
    if (t === 'true' || t === 'false') return { outcome: 'availability', family: FAMILY, nativeId: id, online: t === 'true', scope: 'device' };
    return failure(FAMILY, id, `online is ${JSON.stringify(t.slice(0, 40))}, not true/false`);
  }
  if (key === 'status') {
    // Shelly Motion / Motion 2 report everything on `status`: {"motion":true,"timestamp":…,"active":true,"vibration":false,"lux":303,"bat":87}.
    const obj = parseObject(text);
    if (obj && own(obj, 'motion') !== undefined) return motionStatus(id, obj);
  }
  if (key === 'announce') return teach(recognised(FAMILY, id, 'device announce'), announcedMode(id, text, options));
  if (key === 'info' || key === 'settings' || key === 'status') return recognised(FAMILY, id, `device ${key}`);
  if (path[path.length - 1] === 'command' || path[path.length - 1] === 'set' || a === 'command') return recognised(FAMILY, id, `command (${key})`);

  const col = new Collector(FAMILY, id);
  const fahrenheit = options.shellyFahrenheit?.includes(id) ?? false;
  const value = gen1Value(text);
  if (a === 'sensor' && b !== undefined && path.length === 2) {
    const kind = Object.prototype.hasOwnProperty.call(GEN1_SENSORS, b) ? GEN1_SENSORS[b]! : null;
    col.add(key, kind, value, { unit: kind === 'temperature' && fahrenheit ? 'F' : undefined });
  } else if (isOutput(a) && b !== undefined && /^\d+$/.test(b) && path.length === 2) {
    // A relay with overpower protection reports `overpower` when that switched it off (Plug S, 1PM, 2.5).
    const state = text.trim() === 'overpower' ? 'off' : toOnOff(value);
    if (state === null) col.problem(`${key} is ${JSON.stringify(text.slice(0, 40))}, not on/off`);
    else col.actuator({ channel: b, state: { state } });
  } else if (isLight(a) && b !== undefined && c === 'status' && path.length === 3) {
    // {"ison":true,"mode":"white","brightness":70,"power":0.00,…} (`color/0/status` has gain, not brightness).
    const obj = parseObject(text);
    const on = obj ? toBool(own(obj, 'ison')) : null;
    if (on === null) col.problem(`${key} has no boolean "ison"`);
    else col.actuator({ channel: b, state: lightState(on, obj!) });
  } else if ((a === 'relay' || a === 'light' || a === 'roller') && ((path.length === 3 && c === 'power') || (path.length === 2 && b === 'power'))) {
    col.add(key, a === 'roller' ? null : 'power', value, { channel: path.length === 3 ? b : undefined });
  } else if (a === 'emeter' && b !== undefined && c === 'power' && path.length === 3) {
    col.add(key, 'power', value, { channel: `emeter/${b}` });
  } else if ((a === 'ext_temperature' || a === 'ext_humidity') && b !== undefined && path.length === 2) {
    const kind = a === 'ext_temperature' ? 'temperature' : 'humidity';
    col.add(key, kind, value, { channel: `${a}/${b}`, unit: kind === 'temperature' && fahrenheit ? 'F' : undefined });
  } else {
    col.unmapped(key, value);
  }
  // A colour light is commanded on the topics it reports on (shelly-commands.ts).
  const mode = a === 'color' || a === 'white' ? a : undefined;
  return mode !== undefined && options.learnt?.shellyLightMode(id) !== mode ? teach(col.result(), { what: 'shellyLightMode', nativeId: id, mode }) : col.result();
}

const isLight = (a: string | undefined): boolean => a === 'light' || a === 'color' || a === 'white';
const isOutput = (a: string | undefined): boolean => a === 'relay' || isLight(a);

/** A Gen1 bare value: JSON when it parses (numbers, true/false, `["sensor"]`), else the text. */
function gen1Value(text: string): Json {
  const p = parseJson(text);
  return p.ok ? p.value : text;
}

/** A Shelly Motion's `status`: motion, lux and battery (and a Motion 2's `tmp` with its units); the rest unmapped. */
function motionStatus(id: string, obj: JsonObject): DecodeResult {
  const col = new Collector(FAMILY, id);
  const kinds: Readonly<Record<string, ContractKind>> = { motion: 'motion', lux: 'illuminance', bat: 'battery' };
  for (const field of Object.keys(obj)) {
    const v = own(obj, field);
    const kind = Object.prototype.hasOwnProperty.call(kinds, field) ? kinds[field]! : null;
    if (field === 'tmp' && isObject(v) && own(v, 'is_valid') !== false && own(v, 'value') !== undefined) {
      const units = own(v, 'units');
      col.add('status/tmp', 'temperature', own(v, 'value'), { unit: typeof units === 'string' ? units : undefined });
    } else if (kind !== null && isObject(v)) col.add(`status/${field}`, kind, own(v, 'value'));
    else col.add(`status/${field}`, kind, v);
  }
  return col.result();
}

function lightState(on: boolean, obj: JsonObject): { state: 'on' | 'off'; brightness?: number } {
  const brightness = toNumber(own(obj, 'brightness'));
  return brightness === null ? { state: on ? 'on' : 'off' } : { state: on ? 'on' : 'off', brightness };
}

// ---------------------------------------------------------------- Gen2+

/** The native id of a Gen2+ prefix: the prefix, or its last segment when set to `shellies/<id>` as Gen1 ones are. */
function gen2Id(prefix: string): string {
  const p = prefix.split('/');
  return p.length === 2 && p[0] === 'shellies' && p[1] ? p[1] : prefix;
}

function decodeGen2(topic: string, text: string, options: DecodeOptions): DecodeResult | null {
  let m = /^(.+)\/status\/([^/]+)$/.exec(topic);
  if (m?.[1] && m[2]) {
    const comp = COMPONENT.exec(m[2]);
    if (!comp?.[1] || !KNOWN.has(comp[1])) return null;
    const id = gen2Id(m[1]);
    if (HOUSEKEEPING.has(comp[1])) return recognised(FAMILY, id, `status of ${m[2]}`);
    const obj = parseObject(text);
    if (!obj) return failure(FAMILY, id, `status/${m[2]} is not a JSON object`);
    const col = new Collector(FAMILY, id);
    const learnt: Learnt[] = [];
    component(col, m[2], comp[1], comp[2], obj, outputLearner(id, options, learnt));
    return taught(col.result(), learnt);
  }
  m = /^(.+)\/events\/rpc$/.exec(topic);
  if (m?.[1]) return decodeNotification(gen2Id(m[1]), text, options);
  m = /^(.+)\/online$/.exec(topic);
  if (m?.[1] && !topic.startsWith('shellies/')) {
    const t = text.trim();
    if (t === 'true' || t === 'false') return { outcome: 'availability', family: FAMILY, nativeId: gen2Id(m[1]), online: t === 'true', scope: 'device' };
    return null;
  }
  m = /^(.+)\/(rpc|command(?:\/[a-z0-9_]+:\d+)?|debug\/log)$/.exec(topic);
  if (m?.[1] && m[2]) {
    if (topic.startsWith('shellies/') && m[1].split('/').length !== 2) return null; // Gen1 `…/relay/0/command`
    const id = gen2Id(m[1]);
    if (m[2] === 'rpc') return rpcFrame(id, text);
    if (m[2] === 'debug/log') return recognised(FAMILY, id, 'debug log');
    if (m[2] !== 'command' || text === 'status_update' || text === 'announce') return recognised(FAMILY, id, `command (${m[2]})`);
  }
  return null;
}

function decodeNotification(id: string, text: string, options: DecodeOptions): DecodeResult {
  const frame = parseObject(text);
  const method = frame ? own(frame, 'method') : undefined;
  if (!frame || typeof method !== 'string') return failure(FAMILY, id, 'events/rpc is not an RPC notification');
  if (method !== 'NotifyStatus' && method !== 'NotifyFullStatus') return recognised(FAMILY, id, `notification (${method})`);
  const params = own(frame, 'params');
  if (!isObject(params)) return failure(FAMILY, id, `${method} has no params object`);
  const col = new Collector(FAMILY, id);
  const learnt: Learnt[] = [];
  // A full status says every output at once (fullOutputs), a NotifyStatus the ones it carries.
  const full = method === 'NotifyFullStatus' ? fullOutputs(id, params, options) : undefined;
  if (full) learnt.push(full);
  const learn = method === 'NotifyFullStatus' ? () => undefined : outputLearner(id, options, learnt);
  const ts = toNumber(own(params, 'ts'));
  if (ts !== null) col.ts = epochToIso(ts);
  for (const key of Object.keys(params)) {
    if (key === 'ts') continue;
    const comp = COMPONENT.exec(key);
    const body = own(params, key);
    if (!comp?.[1] || HOUSEKEEPING.has(comp[1]) || !isObject(body)) continue;
    component(col, key, comp[1], comp[2], body, learn);
  }
  if (col.readings.length === 0 && col.actuators.length === 0 && col.problems.length === 0) return taught(recognised(FAMILY, id, `${method} without readings`), learnt);
  return taught(col.result(), learnt);
}

/** One component's status (whole, or the changed part a NotifyStatus carries); `learn` told of each output's component. */
function component(col: Collector, key: string, type: string, n: string | undefined, obj: JsonObject, learn: (type: ShellyOutput, n: string) => void): void {
  const mapped = new Set<string>();
  const take = (field: string, kind: ContractKind): void => {
    if (own(obj, field) === undefined) return;
    col.add(`${key}.${field}`, kind, own(obj, field), { channel: key });
    mapped.add(field);
  };
  switch (type) {
    case 'switch':
    case 'light':
    case 'rgb':
    case 'rgbw':
    case 'cct':
    case 'rgbcct': {
      const on = toBool(own(obj, 'output'));
      if (on !== null) {
        if (isShellyOutput(type)) learn(type, n ?? '0');
        const brightness = toNumber(own(obj, 'brightness'));
        // `source` "init": the output as the device set it at power-on (its initial_state), not a command nor a hand.
        const source = own(obj, 'source');
        const init = source === 'init' ? { cameBack: `Shelly ${key} status source "init" (set at power-on)` } : typeof source === 'string' ? { notAtPowerOn: true } : {};
        col.actuator({ channel: n ?? '0', state: brightness === null ? { state: on ? 'on' : 'off' } : { state: on ? 'on' : 'off', brightness }, ...init });
        mapped.add('output').add('brightness');
      }
      take('apower', 'power');
      break;
    }
    case 'temperature':
      take('tC', 'temperature');
      break;
    case 'humidity':
      take('rh', 'humidity');
      break;
    case 'illuminance':
      take('lux', 'illuminance');
      break;
    case 'smoke':
      take('alarm', 'smoke');
      break;
    case 'pm1':
      take('apower', 'power');
      break;
    case 'em1':
      take('act_power', 'power');
      break;
    case 'em':
      take('total_act_power', 'power');
      break;
    case 'devicepower': {
      const battery = own(obj, 'battery');
      if (isObject(battery) && own(battery, 'percent') !== undefined) {
        col.add(`${key}.battery.percent`, 'battery', own(battery, 'percent'), { channel: key });
        flatten(col, `${key}.battery`, battery, new Set(['percent']));
        mapped.add('battery');
      }
      break;
    }
  }
  flatten(col, key, obj, mapped);
}

/** The remaining fields as unmapped keys, one object level deep (`switch:0.temperature.tC`). */
function flatten(col: Collector, key: string, obj: JsonObject, skip: Set<string>): void {
  for (const field of Object.keys(obj)) {
    if (skip.has(field) || field === 'id') continue;
    const v = own(obj, field);
    if (isObject(v)) {
      for (const sub of Object.keys(v)) {
        const sv = own(v, sub);
        if (isScalar(sv)) col.unmapped(`${key}.${field}.${sub}`, sv, undefined, key);
        else col.otherKeys.push(`${key}.${field}.${sub}`);
      }
    } else col.unmapped(`${key}.${field}`, v, undefined, key);
  }
}
