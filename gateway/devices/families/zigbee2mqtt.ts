/**
 * Zigbee2MQTT: `<base>/<friendly name>` carries one JSON object with many keys (friendly names may
 * contain `/`); `<base>/<name>/availability` is `online`/`offline` (legacy) or `{"state":"online"}`;
 * `<base>/bridge/state` likewise for the bridge itself; everything else under `<base>/bridge/` is
 * the bridge's own traffic. `contact: true` means closed. Commands go to `<base>/<name>/set`.
 */
import { Collector, NOT_MINE, failure, recognised } from '../collect.js';
import { isObject, own, parseJson, payloadText, toNumber, toOnOff, trustedTime, type JsonObject } from '../normalise.js';
import type { ActuatorState, ContractKind, DecodeOptions, DecodeResult, EncodeOptions, EncodeResult, NativeCommand } from '../types.js';

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
  if (!topic.startsWith(`${base}/`)) return NOT_MINE;
  const rest = topic.slice(base.length + 1);
  if (rest === '') return NOT_MINE;
  const text = payloadText(payload);
  if (text === '') return recognised(FAMILY, rest, 'empty payload (a retained message cleared)');

  if (rest === 'bridge/state') {
    const online = availabilityOf(text);
    if (online === null) return failure(FAMILY, 'bridge', `bridge/state is ${JSON.stringify(text.slice(0, 40))}, not online/offline`);
    return { outcome: 'availability', family: FAMILY, nativeId: 'bridge', online, scope: 'bridge' };
  }
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
    // `advanced.output: attribute_and_json` also publishes every key alone on `<base>/<name>/<key>`
    // (`<key>-<sub>` for nested objects), a bare value or ''. A device's own state is always a JSON
    // object, so a broken one (`{"temperature": 21.`) on a self-placing `<site>/<zone>/<device>` stays a failure.
    if (name !== '' && last !== undefined && last !== '' && !text.trimStart().startsWith('{')) return recognised(FAMILY, name, `attribute output (${last}), a copy of the JSON state`);
    return failure(FAMILY, rest, parsed.ok ? 'payload is not a JSON object' : parsed.reason);
  }
  return decodeState(rest, parsed.value);
}

function decodeState(name: string, obj: JsonObject): DecodeResult {
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
    c.unmapped(key, v);
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
 * HVAC `{"system_mode":"heat","occupied_heating_setpoint":21}` (`occupied_cooling_setpoint` for cool).
 */
export function encode(nativeId: string, channel: string | undefined, command: NativeCommand, options: EncodeOptions = {}): EncodeResult {
  if (nativeId === '' || nativeId.includes('#') || nativeId.includes('+')) return { ok: false, reason: `zigbee2mqtt: "${nativeId}" is not a friendly name` };
  const topic = `${baseTopic(options)}/${nativeId}/set`;
  if ('state' in command) {
    const key = channel === undefined ? 'state' : `state_${channel}`;
    return { ok: true, publishes: [{ topic, payload: JSON.stringify({ [key]: command.state.toUpperCase() }) }] };
  }
  const body: Record<string, string | number> = { system_mode: command.mode };
  if (command.setpoint !== undefined) {
    if (command.mode === 'heat' || command.mode === 'auto') body[options.setpointKeys?.heat ?? 'occupied_heating_setpoint'] = command.setpoint;
    else if (command.mode === 'cool') body[options.setpointKeys?.cool ?? 'occupied_cooling_setpoint'] = command.setpoint;
    else return { ok: false, reason: `zigbee2mqtt:${nativeId}: no setpoint attribute for mode "${command.mode}"` };
  }
  return { ok: true, publishes: [{ topic, payload: JSON.stringify(body) }] };
}
