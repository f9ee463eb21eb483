/**
 * Home Assistant MQTT discovery: retained configs on
 * `<prefix>/<component>/[<node id>/]<object id>/config` (JSON, keys often abbreviated, `~` standing
 * for a base topic). A config is turned into a {@link DiscoveredEntity}: where its state is, how to
 * read it (a value template compiled by ./template.ts, or refused with the reason), which kind its
 * device class and unit give, its availability and command topics. The state messages themselves
 * are decoded with {@link decodeState} against the entities learnt so far.
 */
import { NOT_MINE, failure, recognised } from '../collect.js';
import { isObject, parseJson, payloadText, type Json, type JsonObject } from '../normalise.js';
import { compileTemplate, type Extractor } from '../template.js';
import type { ContractKind, DecodeOptions, DecodeResult } from '../types.js';
import { ABBREVIATIONS, DEVICE_ABBREVIATIONS } from './ha-abbreviations.js';

const FAMILY = 'homeassistant';

export interface ValueSource {
  topic: string;
  template: string;
  extract: Extractor;
}

export interface AvailabilitySource extends ValueSource {
  payloadAvailable: string;
  payloadNotAvailable: string;
}

export interface DiscoveredEntity {
  component: string;
  nodeId?: string;
  objectId: string;
  /** The config topic it came from. */
  configTopic: string;
  /** Device identifier (first of `device.identifiers`), else node id, else object id: the native id. */
  nativeId: string;
  deviceClass?: string;
  unit?: string;
  kind: ContractKind | null;
  /** Where the value is (`state_topic` + `value_template`); absent for a climate. */
  state?: ValueSource;
  /** binary_sensor / switch / light payloads that mean on and off (after the template); a switch's and light's commands. */
  payloadOn: string;
  payloadOff: string;
  /** A switch's states when not its payloads (`state_on`/`state_off`; Home Assistant's MqttSwitch defaults them to payload_on/off). */
  stateOn?: string;
  stateOff?: string;
  availability: AvailabilitySource[];
  availabilityMode: 'all' | 'any' | 'latest';
  commandTopic?: string;
  /** A light with `"schema":"json"` (ESPHome's, Zigbee2MQTT's): state and commands are JSON `{"state":"ON",…}`. */
  jsonSchema?: true;
  /** Climate: mode and target temperature in/out, current temperature in. */
  climate?: { mode?: ValueSource; setpoint?: ValueSource; current?: ValueSource; modeCommandTopic?: string; temperatureCommandTopic?: string; modes?: string[] };
}

export type DiscoveryResult =
  | { outcome: 'discovered'; entity: DiscoveredEntity }
  | { outcome: 'removed'; configTopic: string }
  | { outcome: 'refused'; configTopic: string; nativeId?: string; reason: string; /** Over CONFIG_CAPS: a bad payload (a dead letter), not a config the gateway cannot use. */ tooLarge?: true };

/**
 * What one config may hold. Each entity is kept in memory (discovery.ts), and a client may send
 * any number: Home Assistant's own configs list an availability topic or two, topics fit the
 * broker's (MAX_TOPIC_LENGTH's default), names and payloads a few words. A config beyond is refused whole.
 */
export const CONFIG_CAPS = { availability: 16, topicChars: 512, textChars: 256, modes: 16 } as const;

/** Why the entity is over CONFIG_CAPS, or undefined. */
function overCaps(e: DiscoveredEntity): string | undefined {
  const c = e.climate;
  const topics = [e.state?.topic, e.commandTopic, c?.mode?.topic, c?.setpoint?.topic, c?.current?.topic, c?.modeCommandTopic, c?.temperatureCommandTopic, ...e.availability.map((a) => a.topic)];
  if (topics.some((t) => t !== undefined && t.length > CONFIG_CAPS.topicChars)) return `a topic longer than ${CONFIG_CAPS.topicChars} characters`;
  const texts = [e.nativeId, e.deviceClass, e.unit, e.payloadOn, e.payloadOff, e.stateOn, e.stateOff, ...e.availability.flatMap((a) => [a.payloadAvailable, a.payloadNotAvailable]), ...(c?.modes ?? [])];
  if (texts.some((t) => t !== undefined && t.length > CONFIG_CAPS.textChars)) return `a device identifier, class, unit, payload or mode longer than ${CONFIG_CAPS.textChars} characters`;
  if ((c?.modes?.length ?? 0) > CONFIG_CAPS.modes) return `more than ${CONFIG_CAPS.modes} modes`;
  return undefined;
}

export function discoveryPrefix(options: DecodeOptions): string {
  return options.discoveryPrefix ?? 'homeassistant';
}

/** `<prefix>/<component>/[<node id>/]<object id>/config` split, or null. */
export function parseConfigTopic(topic: string, prefix: string): { component: string; nodeId?: string; objectId: string } | null {
  if (!topic.startsWith(`${prefix}/`) || !topic.endsWith('/config')) return null;
  const parts = topic.slice(prefix.length + 1, -'/config'.length).split('/');
  const ok = (s: string | undefined): s is string => s !== undefined && /^[A-Za-z0-9_-]+$/.test(s);
  if (parts.length === 2 && ok(parts[0]) && ok(parts[1])) return { component: parts[0], objectId: parts[1] };
  if (parts.length === 3 && ok(parts[0]) && ok(parts[1]) && ok(parts[2])) return { component: parts[0], nodeId: parts[1], objectId: parts[2] };
  return null;
}

/** The family's own topics: discovery configs (learnt, or refused with a reason) and HA's status. */
export function decode(topic: string, payload: Buffer, options: DecodeOptions = {}): DecodeResult {
  const prefix = discoveryPrefix(options);
  if (topic === `${prefix}/status`) return recognised(FAMILY, undefined, 'Home Assistant status (birth / last will)');
  if (!parseConfigTopic(topic, prefix)) return NOT_MINE;
  const r = parseDiscovery(topic, payload, options);
  if (r.outcome === 'refused') return failure(FAMILY, r.nativeId, `${topic}: ${r.reason}`);
  return recognised(FAMILY, r.outcome === 'discovered' ? r.entity.nativeId : undefined, r.outcome === 'discovered' ? `discovery config (${r.entity.component})` : 'discovery config removed');
}

/** Expands abbreviations (top level, `device`, `availability` entries) into a fresh null-prototype object. */
function expand(obj: JsonObject, table: Readonly<Record<string, string>>): Record<string, Json> {
  const out = Object.create(null) as Record<string, Json>;
  for (const key of Object.keys(obj)) {
    const full = Object.prototype.hasOwnProperty.call(table, key) ? table[key]! : key;
    out[full] = obj[key]!;
  }
  return out;
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/** `~` at the start or end of a `*_topic` value stands for the base topic. */
function withBase(v: string | undefined, base: string | undefined): string | undefined {
  if (v === undefined || base === undefined) return v;
  if (v.startsWith('~')) return base + v.slice(1);
  if (v.endsWith('~')) return v.slice(0, -1) + base;
  return v;
}

const BINARY_CLASSES: Readonly<Record<string, ContractKind>> = {
  door: 'contact',
  window: 'contact',
  opening: 'contact',
  garage_door: 'contact',
  motion: 'motion',
  moving: 'motion',
  occupancy: 'occupancy',
  presence: 'occupancy',
  smoke: 'smoke',
};
const SENSOR_CLASSES: Readonly<Record<string, ContractKind>> = {
  temperature: 'temperature',
  humidity: 'humidity',
  carbon_dioxide: 'co2',
  illuminance: 'illuminance',
  power: 'power',
  battery: 'battery',
};

function kindOf(component: string, deviceClass: string | undefined, unit: string | undefined): ContractKind | null {
  const table = component === 'binary_sensor' ? BINARY_CLASSES : component === 'sensor' ? SENSOR_CLASSES : undefined;
  if (table && deviceClass !== undefined && Object.prototype.hasOwnProperty.call(table, deviceClass)) return table[deviceClass]!;
  // ESPHome and others often send a unit but no class.
  if (component === 'sensor' && deviceClass === undefined && unit !== undefined) {
    if (/^°?[CF]$/.test(unit)) return 'temperature';
    if (unit === 'ppm') return 'co2';
    if (unit === 'lx') return 'illuminance';
    if (unit === 'W' || unit === 'kW') return 'power';
  }
  return null;
}

export function parseDiscovery(topic: string, payload: Buffer, options: DecodeOptions = {}): DiscoveryResult {
  const where = parseConfigTopic(topic, discoveryPrefix(options));
  if (!where) return { outcome: 'refused', configTopic: topic, reason: 'not a discovery config topic' };
  const text = payloadText(payload);
  if (text.trim() === '') return { outcome: 'removed', configTopic: topic };
  const parsed = parseJson(text);
  if (!parsed.ok || !isObject(parsed.value)) return { outcome: 'refused', configTopic: topic, reason: parsed.ok ? 'config is not a JSON object' : `config ${parsed.reason}` };
  const cfg = expand(parsed.value, ABBREVIATIONS);
  const base = str(cfg['~']);
  const topicOf = (k: string): string | undefined => withBase(str(cfg[k]), base);

  const device = isObject(cfg['device']) ? expand(cfg['device'], DEVICE_ABBREVIATIONS) : undefined;
  const ids = device?.['identifiers'];
  const firstId = Array.isArray(ids) ? str(ids[0]) : str(ids);
  const nativeId = firstId ?? where.nodeId ?? where.objectId;
  const refuse = (reason: string): DiscoveryResult => ({ outcome: 'refused', configTopic: topic, nativeId, reason });
  // Said of the device its topic names: the identifier it gives may be the oversized part.
  const tooLarge = (reason: string): DiscoveryResult => ({ outcome: 'refused', configTopic: topic, nativeId: where.nodeId ?? where.objectId, reason: `config over the gateway's caps: ${reason}`, tooLarge: true });

  const source = (topicKey: string, templateKey: string): ValueSource | string | undefined => {
    const t = topicOf(topicKey);
    if (t === undefined) return undefined;
    const template = str(cfg[templateKey]);
    const compiled = compileTemplate(template);
    if (!compiled.ok) return `${templateKey}: ${compiled.reason}`;
    return { topic: t, template: template ?? '{{ value }}', extract: compiled.extract };
  };

  const availability: AvailabilitySource[] = [];
  const list = cfg['availability'];
  if (Array.isArray(list) && list.length > CONFIG_CAPS.availability) return tooLarge(`${list.length} availability entries, more than ${CONFIG_CAPS.availability}`);
  const entries: Record<string, Json>[] = Array.isArray(list) ? list.filter(isObject).map((e) => expand(e, ABBREVIATIONS)) : [];
  const single = topicOf('availability_topic');
  if (single !== undefined) entries.push(Object.assign(Object.create(null) as Record<string, Json>, { topic: single, payload_available: cfg['payload_available'] ?? 'online', payload_not_available: cfg['payload_not_available'] ?? 'offline', value_template: cfg['availability_template'] ?? null }));
  for (const e of entries) {
    const t = withBase(str(e['topic']), base);
    if (t === undefined) continue;
    const template = str(e['value_template']);
    const compiled = compileTemplate(template);
    if (!compiled.ok) return refuse(`availability value_template: ${compiled.reason}`);
    availability.push({
      topic: t,
      template: template ?? '{{ value }}',
      extract: compiled.extract,
      payloadAvailable: str(e['payload_available']) ?? str(cfg['payload_available']) ?? 'online',
      payloadNotAvailable: str(e['payload_not_available']) ?? str(cfg['payload_not_available']) ?? 'offline',
    });
  }

  const mode = cfg['availability_mode'];
  const deviceClass = str(cfg['device_class']);
  const unit = str(cfg['unit_of_measurement']);
  const entity: DiscoveredEntity = {
    component: where.component,
    objectId: where.objectId,
    configTopic: topic,
    nativeId,
    kind: kindOf(where.component, deviceClass, unit),
    payloadOn: str(cfg['payload_on']) ?? 'ON',
    payloadOff: str(cfg['payload_off']) ?? 'OFF',
    availability,
    availabilityMode: mode === 'all' || mode === 'any' ? mode : 'latest',
  };
  // Only what the gateway reads is kept (not `name`, `unique_id`, `device`): entities are held by the thousand.
  if (where.nodeId !== undefined) entity.nodeId = where.nodeId;
  if (deviceClass !== undefined) entity.deviceClass = deviceClass;
  if (unit !== undefined) entity.unit = unit;
  const cmd = topicOf('command_topic');
  if (cmd !== undefined) entity.commandTopic = cmd;
  if (where.component === 'light' && str(cfg['schema']) === 'json') entity.jsonSchema = true;
  const stateOn = where.component === 'switch' ? str(cfg['state_on']) : undefined;
  const stateOff = where.component === 'switch' ? str(cfg['state_off']) : undefined;
  if (stateOn !== undefined) entity.stateOn = stateOn;
  if (stateOff !== undefined) entity.stateOff = stateOff;

  if (where.component === 'climate') {
    const mode = source('mode_state_topic', 'mode_state_template');
    const setpoint = source('temperature_state_topic', 'temperature_state_template');
    const current = source('current_temperature_topic', 'current_temperature_template');
    for (const s of [mode, setpoint, current]) if (typeof s === 'string') return refuse(s);
    entity.climate = {};
    if (typeof mode === 'object') entity.climate.mode = mode;
    if (typeof setpoint === 'object') entity.climate.setpoint = setpoint;
    if (typeof current === 'object') entity.climate.current = current;
    const mct = topicOf('mode_command_topic');
    if (mct !== undefined) entity.climate.modeCommandTopic = mct;
    const tct = topicOf('temperature_command_topic');
    if (tct !== undefined) entity.climate.temperatureCommandTopic = tct;
    // The modes it takes (Home Assistant's default: all six); ESPHome lists its climate's own.
    const modes = cfg['modes'];
    if (Array.isArray(modes) && modes.length > 0 && modes.every((m) => typeof m === 'string')) entity.climate.modes = modes;
    entity.kind = null;
  } else {
    const state = source('state_topic', 'value_template');
    if (typeof state === 'string') return refuse(state);
    if (state === undefined && where.component !== 'button') return refuse('no state_topic');
    if (state !== undefined) entity.state = state;
  }
  const over = overCaps(entity);
  return over === undefined ? { outcome: 'discovered', entity } : tooLarge(over);
}

export { decodeState, encode, isAvailable, availabilityOf } from './homeassistant-state.js';
