/**
 * Zigbee2MQTT: `<base>/<friendly name>` carries one JSON object with many keys (friendly names may
 * contain `/`); `<base>/<name>/availability` is `online`/`offline` (legacy) or `{"state":"online"}`;
 * `<base>/bridge/state` likewise for the bridge itself; everything else under `<base>/bridge/` is
 * the bridge's own traffic, `bridge/info` and `bridge/devices` read for what they teach (its
 * output; what each device is, zigbee2mqtt-devices.ts). `contact: true` means closed. Commands go
 * to `<base>/<name>/set`.
 *
 * With `advanced.output: attribute` (or `attribute_and_json`) each key also comes alone on
 * `<base>/<name>/<key>`, a bare value (Koenkk/zigbee2mqtt lib/controller.ts publishEntityState →
 * iteratePayloadAttributeOutput). They are the device's state when no JSON comes (the bridge's
 * `bridge/info` says `attribute`, or no JSON state of the device was seen since the bridge came
 * online), else copies of it, counted and not stored twice.
 */
import { Collector, NOT_MINE, cameBack, failure, recognised, teach } from '../collect.js';
import { MAX_BRIDGE_DEVICES_BYTES, isObject, isScalar, own, parseJson, payloadText, toNumber, toOnOff, trustedTime, type Json, type JsonObject } from '../normalise.js';
import { addressesOf, formsOf, unitsOf } from './zigbee2mqtt-devices.js';
import type { ActuatorState, ContractKind, DecodeOptions, DecodeResult, EncodeOptions, EncodeResult, Learnt, LearntView, NativeCommand } from '../types.js';

const FAMILY = 'zigbee2mqtt';

export function baseTopic(options: DecodeOptions): string {
  return options.zigbee2mqttBaseTopic ?? 'zigbee2mqtt';
}

/** Keys that map to a contract kind, in priority order: the first present wins the kind, later ones stay unmapped. */
const KIND_KEYS: readonly (readonly [string, ContractKind])[] = [
  ['temperature', 'temperature'],
  ['local_temperature', 'temperature'],
  ['humidity', 'humidity'],
  ['co2', 'co2'],
  ['illuminance_lux', 'illuminance'],
  ['illuminance', 'illuminance'],
  ['occupancy', 'occupancy'],
  ['presence', 'occupancy'],
  ['motion', 'motion'],
  ['contact', 'contact'],
  ['smoke', 'smoke'],
  ['power', 'power'],
  ['battery', 'battery'],
];

const SETPOINT_KEYS = ['occupied_heating_setpoint', 'occupied_cooling_setpoint', 'current_heating_setpoint'] as const;

function availabilityOf(text: string): boolean | null {
  const t = text.trim();
  if (t === 'online' || t === 'offline') return t === 'online';
  const p = parseJson(t);
  if (p.ok && isObject(p.value)) {
    const s = own(p.value, 'state');
    if (s === 'online' || s === 'offline') return s === 'online';
  }
  return null;
}

export function decode(topic: string, payload: Buffer, options: DecodeOptions = {}): DecodeResult {
  const base = baseTopic(options);
  const r = decodeUnder(base, topic, payload, options);
  // Which bridge it came through: a bridge's bridge/state speaks for its own devices only (registry.ts). Each result is fresh: set, not copied.
  if (r.outcome === 'decoded' || r.outcome === 'availability') r.base = base;
  return r;
}

function decodeUnder(base: string, topic: string, payload: Buffer, options: DecodeOptions): DecodeResult {
  if (!topic.startsWith(`${base}/`)) return NOT_MINE;
  const rest = topic.slice(base.length + 1);
  if (rest === '') return NOT_MINE;
  const text = payloadText(payload);
  // A retained message cleared (Zigbee2MQTT empties <old name>/availability at a rename or removal):
  // no device's news, so no device (it listed a phantom `<name>/availability`).
  if (text === '') return recognised(FAMILY, undefined, `empty payload on ${rest} (a retained message cleared)`);

  if (rest === 'bridge/state') {
    const online = availabilityOf(text);
    if (online === null) return failure(FAMILY, 'bridge', `bridge/state is ${JSON.stringify(text.slice(0, 40))}, not online/offline`);
    // Published at each connection (lib/mqtt.ts onConnect), before bridge/info: what was learnt of its output is asked again.
    return { outcome: 'availability', family: FAMILY, nativeId: 'bridge', online, scope: 'bridge', ...(online ? { learnt: [{ what: 'zigbee2mqttBridgeOnline', base }] } : {}) };
  }
  if (rest === 'bridge/info') return teach(recognised(FAMILY, 'bridge', 'bridge traffic (bridge/info)'), outputOf(base, text, options.learnt));
  if (rest === 'bridge/devices') return bridgeDevices(base, text);
  if (rest === 'bridge/response/device/rename' || rest === 'bridge/response/group/rename') return teach(recognised(FAMILY, 'bridge', `bridge traffic (${rest})`), renamed(base, text));
  if (rest === 'bridge/event') return bridgeEvent(text);
  if (rest.startsWith('bridge/')) return recognised(FAMILY, 'bridge', `bridge traffic (${rest})`);

  const parts = rest.split('/');
  const last = parts[parts.length - 1];
  const name = parts.slice(0, -1).join('/');
  if (last === 'availability' && name !== '') {
    const online = availabilityOf(text);
    if (online === null) return failure(FAMILY, name, `availability is ${JSON.stringify(text.slice(0, 40))}, not online/offline`);
    return { outcome: 'availability', family: FAMILY, nativeId: name, online, scope: 'device' };
  }
  // <name>/set, <name>/get, <name>/set/<attribute>: commands to the device, not from it.
  const setAt = parts.lastIndexOf('set') >= 0 ? parts.lastIndexOf('set') : parts.lastIndexOf('get');
  if (setAt > 0 && setAt >= parts.length - 2) return recognised(FAMILY, parts.slice(0, setAt).join('/'), `command (${parts.slice(setAt).join('/')})`);

  const parsed = parseJson(text);
  if (!parsed.ok || !isObject(parsed.value)) {
    // Attribute output: every key alone on `<base>/<name>/<key>` (`<key>-<sub>` for nested objects),
    // a bare value. A device's own state is always a JSON object, so a broken one
    // (`{"temperature": 21.`) on a self-placing `<site>/<zone>/<device>` stays a failure.
    if (name !== '' && last !== undefined && last !== '' && !text.trimStart().startsWith('{')) {
      const { learnt } = options;
      if (!learnt || attributesAreCopies(learnt, base, name)) return recognised(FAMILY, name, `attribute output (${last}), a copy of the JSON state`);
      return decodeAttribute(learnt, base, name, last, parsed.ok && isScalar(parsed.value) ? parsed.value : text);
    }
    return failure(FAMILY, rest, parsed.ok ? 'payload is not a JSON object' : parsed.reason);
  }
  const seen = !options.learnt || options.learnt.zigbee2mqttJsonSeen(base, rest);
  const unitOf = (key: string): string | undefined => options.learnt?.zigbee2mqttUnit(base, rest, key);
  return teach(decodeState(rest, parsed.value, unitOf), seen ? undefined : { what: 'zigbee2mqttJson', base, name: rest });
}

/** `bridge/info` `{…,"config":{…,"advanced":{…,"output":"attribute"}}}` (lib/extension/bridge.ts publishInfo: the settings, defaults merged). */
function outputOf(base: string, text: string, learnt: LearntView | undefined): Learnt | undefined {
  // Its config lists every device's options: a large network's is past the usual 64 KiB (router.ts payloadLimit).
  const parsed = parseJson(text, MAX_BRIDGE_DEVICES_BYTES);
  const config = own(parsed.ok && isObject(parsed.value) ? parsed.value : {}, 'config');
  const advanced = isObject(config) ? own(config, 'advanced') : undefined;
  const output = isObject(advanced) ? own(advanced, 'output') : undefined;
  if (output !== 'json' && output !== 'attribute' && output !== 'attribute_and_json') return undefined;
  return learnt?.zigbee2mqttOutput(base) === output ? undefined : { what: 'zigbee2mqttOutput', base, output };
}

/** `bridge/devices`: what each device is (zigbee2mqtt-devices.ts), learnt whole, replacing what the last one said. */
function bridgeDevices(base: string, text: string): DecodeResult {
  const parsed = parseJson(text, MAX_BRIDGE_DEVICES_BYTES);
  const devices = parsed.ok ? formsOf(parsed.value) : parsed.reason;
  if (typeof devices === 'string') return failure(FAMILY, 'bridge', `bridge/devices: ${devices}`);
  const list = parsed.ok ? parsed.value : null;
  return teach(recognised(FAMILY, 'bridge', 'bridge traffic (bridge/devices)'), { what: 'zigbee2mqttDevices', base, devices, addresses: addressesOf(list), units: unitsOf(list) });
}

/**
 * The bridge's answer to a rename (lib/extension/bridge.ts renameEntity, after it has published
 * the new bridge/devices): `{"data":{"from":"old","to":"new","homeassistant_rename":false},"status":"ok"}`.
 * A refused one (`"status":"error"`) renamed nothing.
 */
function renamed(base: string, text: string): Learnt | undefined {
  const parsed = parseJson(text);
  const body = parsed.ok && isObject(parsed.value) ? parsed.value : {};
  const data = own(body, 'data');
  const from = isObject(data) ? own(data, 'from') : undefined;
  const to = isObject(data) ? own(data, 'to') : undefined;
  if (own(body, 'status') !== 'ok' || typeof from !== 'string' || typeof to !== 'string' || from === '' || to === '' || from === to) return undefined;
  return { what: 'zigbee2mqttRenamed', base, from, to };
}

/**
 * `bridge/event` `{"type":"device_announce","data":{"friendly_name":…,"ieee_address":…}}`
 * (lib/extension/bridge.ts): a device rejoined the network, mostly after losing power; a short
 * power cut may never show as offline on `<name>/availability`.
 */
function bridgeEvent(text: string): DecodeResult {
  const parsed = parseJson(text);
  const event = parsed.ok && isObject(parsed.value) ? parsed.value : undefined;
  const data = event ? own(event, 'data') : undefined;
  const name = isObject(data) ? own(data, 'friendly_name') : undefined;
  if (!event || own(event, 'type') !== 'device_announce' || typeof name !== 'string' || name === '') return recognised(FAMILY, 'bridge', 'bridge traffic (bridge/event)');
  return cameBack(FAMILY, name, 'device announce (bridge/event)', 'Zigbee2MQTT device_announce (rejoined)');
}

/**
 * Copies when the bridge says it sends JSON too, else when this device's JSON came since the bridge
 * last came online (it publishes the JSON first). A decoder called without what the router learnt
 * takes them for copies.
 */
function attributesAreCopies(learnt: LearntView, base: string, name: string): boolean {
  const output = learnt.zigbee2mqttOutput(base);
  return output === undefined ? learnt.zigbee2mqttJsonSeen(base, name) : output !== 'attribute';
}

/**
 * One attribute, mapped as the JSON path maps its key. A key that stands in for a kind only when
 * a better one is absent (local_temperature, illuminance, presence) waits for its second message:
 * each publish repeats every key (`advanced.cache_state`, on by default), so by then the device
 * has shown whether it has the better one (older releases send raw `illuminance` before `illuminance_lux`).
 */
function decodeAttribute(learnt: LearntView, base: string, name: string, key: string, value: Json): DecodeResult {
  const c = new Collector(FAMILY, name);
  const at = KIND_KEYS.findIndex(([k]) => k === key);
  const seen = learnt.zigbee2mqttKeys(base, name);
  if (at >= 0) {
    const kind = KIND_KEYS[at]![1];
    const better = KIND_KEYS.slice(0, at).filter(([, k]) => k === kind);
    const mapped = better.length === 0 || (seen?.has(key) === true && !better.some(([k]) => seen.has(k)));
    c.add(key, mapped ? kind : null, value, { invert: key === 'contact', ...unitOf(learnt, base, name, key) });
  } else if ((key === 'state' || /^state_./.test(key)) && toOnOff(value) !== null) {
    c.actuator({ ...(key === 'state' ? {} : { channel: key.slice('state_'.length) }), state: { state: toOnOff(value)! } });
  } else if (key === 'system_mode' && typeof value === 'string') {
    c.actuator({ state: { mode: value } });
  } else {
    c.unmapped(key, value, learnt.zigbee2mqttUnit(base, name, key));
  }
  return teach(c.result(), at >= 0 && seen?.has(key) !== true ? { what: 'zigbee2mqttKey', base, name, key } : undefined);
}

/** The unit bridge/devices gives a key the decoder leaves unmapped (placement.ts converts it to an added kind's: mV → V). */
function unitOf(learnt: LearntView, base: string, name: string, key: string): { nativeUnit?: string } {
  const unit = learnt.zigbee2mqttUnit(base, name, key);
  return unit === undefined ? {} : { nativeUnit: unit };
}

/** A device's JSON state; `unitOf`: the unit its bridge/devices gives a key (the contract's kinds' keys are in their units already). */
function decodeState(name: string, obj: JsonObject, unitOf: (key: string) => string | undefined): DecodeResult {
  const c = new Collector(FAMILY, name);
  const taken = new Map<string, ContractKind>();
  const kindsUsed = new Set<ContractKind>();
  const hasLux = own(obj, 'illuminance_lux') !== undefined;
  for (const [key, kind] of KIND_KEYS) {
    if (own(obj, key) === undefined || kindsUsed.has(kind)) continue;
    if (key === 'illuminance' && hasLux) continue; // older releases: `illuminance` raw, `illuminance_lux` in lux
    taken.set(key, kind);
    kindsUsed.add(kind);
  }
  const actuator: ActuatorState = {};
  const channels = new Map<string, ActuatorState>();
  for (const key of Object.keys(obj)) {
    const v = own(obj, key);
    const kind = taken.get(key);
    if (kind !== undefined) {
      c.add(key, kind, v, { invert: key === 'contact' });
      continue;
    }
    if (key === 'state' && toOnOff(v) !== null) {
      actuator.state = toOnOff(v)!;
      continue;
    }
    const ch = /^state_(.+)$/.exec(key);
    if (ch?.[1] !== undefined && toOnOff(v) !== null) {
      channels.set(ch[1], { state: toOnOff(v)! });
      continue;
    }
    if (key === 'system_mode' && typeof v === 'string') {
      actuator.mode = v;
      continue;
    }
    if (key === 'last_seen') {
      const ts = trustedTime(v);
      if (ts !== undefined) c.ts = ts;
    }
    c.unmapped(key, v, unitOf(key));
  }
  if (actuator.mode !== undefined) {
    const sp = setpointFor(actuator.mode, obj);
    if (sp !== undefined) actuator.setpoint = sp;
  }
  if (Object.keys(actuator).length > 0) c.actuator({ state: actuator });
  for (const [channel, state] of channels) c.actuator({ channel, state });
  return c.result();
}

/** The setpoint that goes with a thermostat's mode: cooling for cool, heating otherwise (occupied first). */
function setpointFor(mode: string, obj: JsonObject): number | undefined {
  const order = mode === 'cool' ? ['occupied_cooling_setpoint', ...SETPOINT_KEYS] : SETPOINT_KEYS;
  for (const k of order) {
    const n = toNumber(own(obj, k));
    if (n !== null) return n;
  }
  return undefined;
}

/**
 * The device's own command: `<base>/<name>/set` with `{"state":"ON"}` (or `state_<channel>`), and for
 * HVAC `{"system_mode":"heat","occupied_heating_setpoint":21}` (`occupied_cooling_setpoint` for cool);
 * a setpoint alone to its attribute (a heat-only valve turned down: `{"occupied_heating_setpoint":5}`).
 */
export function encode(nativeId: string, channel: string | undefined, command: NativeCommand, options: EncodeOptions = {}): EncodeResult {
  if (nativeId === '' || nativeId.includes('#') || nativeId.includes('+')) return { ok: false, reason: `zigbee2mqtt: "${nativeId}" is not a friendly name` };
  const topic = `${baseTopic(options)}/${nativeId}/set`;
  if ('state' in command) {
    const key = channel === undefined ? 'state' : `state_${channel}`;
    return { ok: true, publishes: [{ topic, payload: JSON.stringify({ [key]: command.state.toUpperCase() }) }] };
  }
  if ('attribute' in command) return { ok: true, publishes: [{ topic, payload: JSON.stringify({ [command.attribute]: command.setpoint }) }] };
  const body: Record<string, string | number> = { system_mode: command.mode };
  if (command.setpoint !== undefined) {
    if (command.mode === 'heat' || command.mode === 'auto') body[options.setpointKeys?.heat ?? 'occupied_heating_setpoint'] = command.setpoint;
    else if (command.mode === 'cool') body[options.setpointKeys?.cool ?? 'occupied_cooling_setpoint'] = command.setpoint;
    else return { ok: false, reason: `zigbee2mqtt:${nativeId}: no setpoint attribute for mode "${command.mode}"` };
  }
  return { ok: true, publishes: [{ topic, payload: JSON.stringify(body) }] };
}
