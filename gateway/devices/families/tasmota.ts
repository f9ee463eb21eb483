/**
 * Tasmota: topics follow the device's FullTopic (default `%prefix%/%topic%/`, also common
 * `%topic%/%prefix%/`). `tele/<topic>/SENSOR` carries one JSON block per sensor driver plus
 * `Time` (local, no offset unless configured) and `TempUnit` (`ESP32` is the chip's own temperature); `tele/<topic>/STATE` the relays
 * (`POWER`, `POWER<n>`); `tele/<topic>/LWT` is `Online`/`Offline`; `stat/<topic>/POWER<n>` and
 * `stat/<topic>/RESULT` answer commands sent to `cmnd/<topic>/POWER<n>`.
 */
import { Collector, NOT_MINE, cameBack, failure, recognised, teach } from '../collect.js';
import { isObject, own, parseJson, parseObject, payloadText, toOnOff, trustedTime, type JsonObject } from '../normalise.js';
import type { ContractKind, DecodeOptions, DecodeResult, EncodeOptions, EncodeResult, NativeCommand } from '../types.js';
import { announcedLayout, DEFAULT_FULL_TOPIC, fill, layoutOf, matchTopic, prefixWords } from './tasmota-full-topic.js';

export { parseTopic } from './tasmota-full-topic.js';

const FAMILY = 'tasmota';
/** Sensor fields that map to a contract kind (inside a driver block; `Power` only inside ENERGY). */
const FIELD_KINDS: Readonly<Record<string, ContractKind>> = {
  Temperature: 'temperature',
  Humidity: 'humidity',
  CarbonDioxide: 'co2',
  Illuminance: 'illuminance',
};

const POWER_KEY = /^POWER(\d*)$/;

/** `POWER` and `POWER1` are relay 1. */
function powerChannel(key: string): string | undefined {
  const m = POWER_KEY.exec(key);
  if (!m) return undefined;
  return m[1] === '' || m[1] === undefined ? '1' : m[1];
}

/** `tasmota/discovery/<MAC>/config|sensors`: Tasmota's own discovery, retained at every connection unless `SetOption19 1`. */
const DISCOVERY = /^tasmota\/discovery\/[0-9A-Fa-f]{12}\/(config|sensors)$/;

export function decode(topic: string, payload: Buffer, options: DecodeOptions = {}): DecodeResult {
  const discovery = DISCOVERY.exec(topic);
  if (discovery) {
    // The config names the device's topic (`t`); the sensors are a SENSOR as of discovery, which tele/…/SENSOR carries anyway.
    const config = discovery[1] === 'config' ? parseObject(payloadText(payload)) : undefined;
    const t = config ? own(config, 't') : undefined;
    const named = typeof t === 'string' && t !== '' ? t : undefined;
    // A client bound to one device configures that one only: Home Assistant on this broker reads these configs.
    const mine = options.speaksFor;
    // A config must name its topic (an empty payload clears one: the retained ledger says whose, broker/publish-pipeline.ts).
    if (mine !== undefined && discovery[1] === 'config' && payload.length > 0 && named !== mine) {
      const says = named === undefined ? 'names no topic ("t")' : `names topic ${JSON.stringify(named.slice(0, 64))}`;
      return failure(FAMILY, mine, `tasmota/discovery config ${says}, but this client's credential speaks for tasmota:${mine} only: not retained`);
    }
    return teach(recognised(FAMILY, named, `discovery (${discovery[1]})`), config && named ? announcedLayout(config, named, options) : undefined);
  }
  const matched = matchTopic(topic, options.tasmota);
  if (!matched) return NOT_MINE;
  const { prefix, topic: id, suffix } = matched.parts;
  // The device's own word (a cmnd is anyone's, the gateway's own commands too): its commands follow its template (and its hostname and id in it).
  if (prefix !== 'cmnd') return teach(decodeOwn(id, prefix, suffix, payload), layoutOf(id, matched.template, prefixWords(options.tasmota), options, matched.values));
  return recognised(FAMILY, id, `command (${suffix})`);
}

function decodeOwn(id: string, prefix: 'stat' | 'tele', suffix: string, payload: Buffer): DecodeResult {
  const text = payloadText(payload);
  if (prefix === 'tele') {
    switch (suffix) {
      case 'LWT': {
        const t = text.trim();
        if (t === 'Online' || t === 'Offline') return { outcome: 'availability', family: FAMILY, nativeId: id, online: t === 'Online', scope: 'device' };
        return failure(FAMILY, id, `LWT is ${JSON.stringify(t.slice(0, 40))}, not Online/Offline`);
      }
      case 'SENSOR':
        return decodeSensor(id, text);
      case 'STATE':
        return decodeState(id, text, 'STATE');
      case 'INFO3': {
        // Published once after a boot, before the power states (xdrv_02_9_mqtt.ino MqttConnected: initial_connection_state);
        // `{"Info3":{"RestartReason":…}}`, before 9.x unwrapped.
        const info = parseObject(text);
        const inner = info ? own(info, 'Info3') : undefined;
        const reason = info ? own(isObject(inner) ? inner : info, 'RestartReason') : undefined;
        return reason === undefined ? recognised(FAMILY, id, 'telemetry (INFO3)') : cameBack(FAMILY, id, 'telemetry (INFO3)', `Tasmota restarted (INFO3 RestartReason ${JSON.stringify(reason).slice(0, 80)})`);
      }
      default:
        return recognised(FAMILY, id, `telemetry (${suffix}), not a reading`);
    }
  }
  // stat
  const ch = powerChannel(suffix);
  if (ch !== undefined) {
    const obj = parseObject(text);
    const word = obj ? own(obj, suffix) : text;
    const state = toOnOff(word ?? null);
    if (state === null) return failure(FAMILY, id, `${suffix} is ${JSON.stringify(text.slice(0, 40))}, not ON/OFF`);
    return { outcome: 'decoded', family: FAMILY, nativeId: id, readings: [], actuators: [{ channel: ch, state: { state } }], otherKeys: [], problems: [] };
  }
  if (suffix === 'RESULT') {
    const obj = parseObject(text);
    if (obj && Object.keys(obj).some((k) => powerChannel(k) !== undefined)) return decodeState(id, text, 'RESULT');
    return recognised(FAMILY, id, 'command result');
  }
  return recognised(FAMILY, id, `status (${suffix})`);
}

function decodeState(id: string, text: string, what: string): DecodeResult {
  const obj = parseObject(text);
  if (!obj) return failure(FAMILY, id, `${what} is not a JSON object`);
  const c = new Collector(FAMILY, id);
  const ts = trustedTime(own(obj, 'Time'));
  if (ts !== undefined) c.ts = ts;
  for (const key of Object.keys(obj)) {
    const channel = powerChannel(key);
    if (channel === undefined) continue;
    const state = toOnOff(own(obj, key));
    if (state === null) c.problem(`${key} is ${JSON.stringify(own(obj, key))}, not ON/OFF`);
    else c.actuator({ channel, state: { state } });
  }
  if (c.actuators.length === 0 && c.problems.length === 0) return recognised(FAMILY, id, `${what} without relays`);
  return c.result();
}

function decodeSensor(id: string, text: string): DecodeResult {
  const parsed = parseJson(text);
  if (!parsed.ok) return failure(FAMILY, id, `SENSOR ${parsed.reason}`);
  if (!isObject(parsed.value)) return failure(FAMILY, id, 'SENSOR is not a JSON object');
  const obj = parsed.value;
  const c = new Collector(FAMILY, id);
  const ts = trustedTime(own(obj, 'Time'));
  if (ts !== undefined) c.ts = ts;
  const tempUnit = own(obj, 'TempUnit');
  const pressureUnit = own(obj, 'PressureUnit');
  for (const block of Object.keys(obj)) {
    if (block === 'Time' || block === 'TempUnit' || block === 'PressureUnit') continue;
    const v = own(obj, block);
    if (!isObject(v)) {
      c.unmapped(block, v);
      continue;
    }
    sensorBlock(c, block, v, typeof tempUnit === 'string' ? tempUnit : undefined, typeof pressureUnit === 'string' ? pressureUnit : undefined);
  }
  return c.result();
}

function sensorBlock(c: Collector, block: string, v: JsonObject, tempUnit: string | undefined, pressureUnit: string | undefined): void {
  for (const field of Object.keys(v)) {
    const raw = own(v, field);
    const key = `${block}.${field}`;
    const board = boardTemperature(block, field);
    let kind: ContractKind | null = !board && Object.prototype.hasOwnProperty.call(FIELD_KINDS, field) ? FIELD_KINDS[field]! : null;
    if (block === 'ENERGY' && field === 'Power') kind = 'power';
    if (kind !== null && Array.isArray(raw)) {
      // Multi-phase or multi-channel meters: one value per channel.
      raw.forEach((item, i) => c.add(`${key}[${i}]`, kind, item, { channel: `${block}[${i}]` }));
      continue;
    }
    if (kind === null) {
      c.unmapped(key, raw, field === 'Pressure' ? pressureUnit : field === 'DewPoint' || field === 'Temperature' || board ? tempUnit : undefined, block);
      continue;
    }
    c.add(key, kind, raw, { unit: kind === 'temperature' ? tempUnit : undefined, channel: block });
  }
}

/**
 * A temperature that is the device's own rather than the room's: `ESP32` is the chip's sensor (every
 * tasmota32 build reports it); `ANALOG`'s `Temperature` (`Temperature<n>` on an ESP32) is an NTC on the
 * ADC pin (xsns_02_analog ADC_TEMP), which the Shelly 2.5/1PM/Plug S/Plus templates wire to the
 * board's own (40–70 °C in a wall box) and a Sonoff NSPanel to its room sensor: the message cannot
 * tell which, so it is stored only when the device's `keys:` says so (kept unmapped, its unit with it).
 */
function boardTemperature(block: string, field: string): boolean {
  return (block === 'ESP32' && field === 'Temperature') || (block === 'ANALOG' && /^Temperature\d*$/.test(field));
}

/**
 * `cmnd/<topic>/POWER<n>` with `ON`/`OFF` (plain `POWER` without a channel), following the device's
 * FullTopic: the one learnt from its messages or discovery config (`options.tasmotaLayout`), else
 * the map's first template.
 */
export function encode(nativeId: string, channel: string | undefined, command: NativeCommand, options: EncodeOptions = {}): EncodeResult {
  if (!('state' in command)) return { ok: false, reason: `tasmota:${nativeId}: a Tasmota relay takes on/off, not a mode and setpoint` };
  if (nativeId === '' || /[/#+]/.test(nativeId)) return { ok: false, reason: `tasmota: "${nativeId}" is not a Tasmota topic` };
  if (channel !== undefined && !/^\d{1,2}$/.test(channel)) return { ok: false, reason: `tasmota:${nativeId}: channel "${channel}" is not a relay number` };
  const learnt = options.tasmotaLayout;
  const template = learnt?.fullTopic ?? options.tasmota?.fullTopics?.[0] ?? DEFAULT_FULL_TOPIC;
  const words = learnt?.prefixes ?? prefixWords(options.tasmota);
  const full = fill(template, words.cmnd, nativeId, learnt ?? {});
  if (full.includes('%')) return { ok: false, reason: `tasmota:${nativeId}: FullTopic "${template}" needs its %hostname% or %id%, not known yet (learnt from its first message or discovery config)` };
  return { ok: true, publishes: [{ topic: `${full}POWER${channel ?? ''}`, payload: command.state.toUpperCase() }] };
}
