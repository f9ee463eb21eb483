/**
 * The device map (DEVICES_FILE, YAML): which native device (`<family>:<native id>`) sits where
 * (`site`/`zone`/`device`, per channel when one device has several sources of one kind), which
 * actuator (`<site>/<zone>/<actuator>`) is which native device and channel, the kinds the map
 * adds, and generic mappings for anything else. Parsing is pure: a bad file is refused with every
 * problem, each naming the entry (`devices."tasmota:x".site: must match …`).
 */
import { parse } from 'yaml';
import { GatewayError } from '../core/errors.js';
import type { KindDefinition } from '../core/kinds.js';
import { SEGMENT_HINT, isSegment } from '../core/segments.js';
import { compileMapping, type CompiledMapping, type GenericField, type GenericMapping } from './families/generic.js';
import { CONTRACT_KINDS, FAMILIES, type ActuatorForm, type Family, type TasmotaOptions } from './types.js';
import { checkKinds, checkKeys, checkTasmota, isRecord, type KeyRule } from './map-parts.js';
import { parseAs, switchByMap, type SwitchDrives } from './actuator-kind.js';

export type { KeyRule } from './map-parts.js';

export interface Placement {
  readonly site: string;
  readonly zone: string;
  readonly device: string;
  /** Only the readings of this channel (a Tasmota driver block, a Shelly component, an ESPHome object id). */
  readonly channel?: string;
}

export interface NativeDevice {
  /** `<family>:<native id>` */
  readonly key: string;
  readonly family: Family;
  readonly nativeId: string;
  readonly placements: readonly Placement[];
  /** Native keys to kinds, overriding the decoder's choice (`sensor/air_q: pm25`). */
  readonly keys: ReadonlyMap<string, KeyRule>;
  /** Shelly Gen1: temperatures configured in °F. */
  readonly fahrenheit: boolean;
}

/** How an actuator takes a mode (types.ts). */
export type { ActuatorForm };

export interface NativeActuator {
  /** `<site>/<zone>/<actuator>` */
  readonly target: string;
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly family: Family;
  readonly nativeId: string;
  readonly channel?: string;
  /** Shelly: the generation, when the id does not say. */
  readonly generation?: 1 | 2;
  /** Zigbee2MQTT: the attribute a setpoint goes to, per mode (Tuya TRVs: `current_heating_setpoint`). */
  readonly setpoint?: { readonly heat?: string; readonly cool?: string };
  /** What the device is, said in the map (actuator-form.ts): a plain on/off switch, or a thermostat that takes a mode. */
  readonly as?: ActuatorForm;
  /** A switch's appliance (`as: heater`, `as: cooler`): on only for the mode it does (actuator-kind.ts). */
  readonly drives?: SwitchDrives;
}

export interface DeviceMap {
  readonly file: string;
  readonly devices: ReadonlyMap<string, NativeDevice>;
  readonly actuators: ReadonlyMap<string, NativeActuator>;
  readonly kinds: readonly KindDefinition[];
  /** Key patterns per added kind (`*.Pressure`); a key whose last word is the kind's name matches too. */
  readonly kindKeys: ReadonlyMap<string, readonly RegExp[]>;
  readonly mappings: readonly CompiledMapping[];
  /** Generic mapping fields that name an added kind: `<mapping key>` → kind. */
  readonly genericKinds: ReadonlyMap<string, string>;
  readonly tasmota?: TasmotaOptions;
}

export const EMPTY_MAP: DeviceMap = Object.freeze({
  file: '',
  devices: new Map(),
  actuators: new Map(),
  kinds: [],
  kindKeys: new Map(),
  mappings: [],
  genericKinds: new Map(),
});

export class DeviceMapError extends GatewayError {
  override readonly name = 'DeviceMapError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super('GW_ERR_DEVICE_MAP', `${file}: ${problems.join('; ')}`);
  }
}

/** `<family>:<native id>` split, or why not. */
export function parseNativeKey(key: string): { family: Family; nativeId: string } | string {
  const colon = key.indexOf(':');
  const family = key.slice(0, colon) as Family;
  const nativeId = key.slice(colon + 1);
  if (colon <= 0 || !(FAMILIES as readonly string[]).includes(family)) return `must be <family>:<native id> with a family of ${FAMILIES.join(', ')}`;
  if (nativeId === '' || nativeId.length > 256 || /[#+\u0000]/.test(nativeId)) return 'the native id must be 1 to 256 characters without #, + or NUL';
  return { family, nativeId };
}

/** The default device name: the native id made a valid segment (`Temperatur Wohnung` → `Temperatur_Wohnung`). */
export function deviceName(nativeId: string): string {
  const s = nativeId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return s === '' ? '_' : s;
}

const q = JSON.stringify;
const TOP = new Set(['devices', 'actuators', 'kinds', 'generic', 'tasmota']);
const PLACEMENT_KEYS = new Set(['site', 'zone', 'device', 'channel', 'keys', 'fahrenheit']);
const ACTUATOR_KEYS = new Set(['device', 'channel', 'generation', 'setpoint', 'as']);

export function parseDeviceMap(file: string, text: string): DeviceMap {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new DeviceMapError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`]);
  }
  if (doc === null || doc === undefined) return { ...EMPTY_MAP, file };
  if (!isRecord(doc)) throw new DeviceMapError(file, ['the file must be a mapping with devices:, actuators:, kinds:, generic:']);
  const problems: string[] = [];
  for (const k of Object.keys(doc)) if (!TOP.has(k)) problems.push(`${k}: unknown section (expected ${[...TOP].join(', ')})`);

  const { kinds, kindKeys } = checkKinds(doc['kinds'], problems);
  const known = new Set<string>([...CONTRACT_KINDS, ...kinds.map((k) => k.name)]);
  const devices = parseDevices(doc['devices'], known, problems);
  const actuators = parseActuators(doc['actuators'], problems);
  const { mappings, genericKinds } = parseGeneric(doc['generic'], known, problems);
  const tasmota = checkTasmota(doc['tasmota'], problems);
  if (problems.length > 0) throw new DeviceMapError(file, problems);
  return { file, devices, actuators, kinds, kindKeys, mappings, genericKinds, ...(tasmota ? { tasmota } : {}) };
}

function parseDevices(section: unknown, known: ReadonlySet<string>, problems: string[]): Map<string, NativeDevice> {
  const out = new Map<string, NativeDevice>();
  if (section === undefined || section === null) return out;
  if (!isRecord(section)) {
    problems.push('devices: must be a mapping of <family>:<native id> to { site, zone, device? }');
    return out;
  }
  for (const [key, value] of Object.entries(section)) {
    const at = `devices.${q(key)}`;
    const id = parseNativeKey(key);
    if (typeof id === 'string') {
      problems.push(`${at}: ${id}`);
      continue;
    }
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0) problems.push(`${at}: an empty list places nothing`);
    const placements: Placement[] = [];
    let keys = new Map<string, KeyRule>();
    let fahrenheit = false;
    const before = problems.length;
    list.forEach((entry, i) => {
      const where = Array.isArray(value) ? `${at}[${i}]` : at;
      if (!isRecord(entry)) return void problems.push(`${where}: must be { site, zone, device?, channel? }`);
      for (const k of Object.keys(entry)) if (!PLACEMENT_KEYS.has(k)) problems.push(`${where}.${k}: unknown (expected ${[...PLACEMENT_KEYS].join(', ')})`);
      for (const k of ['site', 'zone'] as const) if (typeof entry[k] !== 'string' || !isSegment(entry[k])) problems.push(`${where}.${k}: must match ${SEGMENT_HINT}${entry[k] === undefined ? ' (required)' : ` (got ${q(entry[k])})`}`);
      const device = entry['device'] ?? deviceName(id.nativeId);
      if (typeof device !== 'string' || !isSegment(device)) problems.push(`${where}.device: must match ${SEGMENT_HINT} (got ${q(device)})`);
      const channel = scalarText(entry['channel']);
      if (channel === null) problems.push(`${where}.channel: must be a string or number`);
      if (entry['keys'] !== undefined) keys = new Map([...keys, ...checkKeys(entry['keys'], `${where}.keys`, known, problems)]);
      if (entry['fahrenheit'] !== undefined && typeof entry['fahrenheit'] !== 'boolean') problems.push(`${where}.fahrenheit: must be true or false`);
      if (entry['fahrenheit'] === true) fahrenheit = true;
      placements.push({ site: entry['site'] as string, zone: entry['zone'] as string, device: device as string, ...(channel ? { channel } : {}) });
    });
    const channels = placements.map((p) => p.channel ?? '');
    if (new Set(channels).size !== channels.length) problems.push(`${at}: two placements for the same channel`);
    if (problems.length === before) out.set(key, { key, family: id.family, nativeId: id.nativeId, placements, keys, fahrenheit });
  }
  return out;
}

function parseActuators(section: unknown, problems: string[]): Map<string, NativeActuator> {
  const out = new Map<string, NativeActuator>();
  if (section === undefined || section === null) return out;
  if (!isRecord(section)) {
    problems.push('actuators: must be a mapping of <site>/<zone>/<actuator> to <family>:<native id> or { device, channel }');
    return out;
  }
  for (const [target, value] of Object.entries(section)) {
    const at = `actuators.${q(target)}`;
    const parts = target.split('/');
    if (parts.length !== 3 || !parts.every(isSegment)) {
      problems.push(`${at}: must be <site>/<zone>/<actuator>, each ${SEGMENT_HINT}`);
      continue;
    }
    const entry: Record<string, unknown> = typeof value === 'string' ? { device: value } : isRecord(value) ? value : {};
    for (const k of Object.keys(entry)) if (!ACTUATOR_KEYS.has(k)) problems.push(`${at}.${k}: unknown (expected ${[...ACTUATOR_KEYS].join(', ')})`);
    const id = typeof entry['device'] === 'string' ? parseNativeKey(entry['device']) : 'required: the native device, <family>:<native id>';
    if (typeof id === 'string') {
      problems.push(`${at}.device: ${id}`);
      continue;
    }
    if (id.family === 'generic') problems.push(`${at}.device: a generic mapping has no commands`);
    const channel = scalarText(entry['channel']);
    if (channel === null) problems.push(`${at}.channel: must be a string or number`);
    if (id.family === 'esphome' && channel === undefined) problems.push(`${at}.channel: required for ESPHome: the switch or climate object id (light:<id> for a light, fan:<id> for a fan)`);
    const generation = entry['generation'];
    if (generation !== undefined && generation !== 1 && generation !== 2) problems.push(`${at}.generation: must be 1 or 2 (Shelly)`);
    const setpoint = parseSetpoint(entry['setpoint'], `${at}.setpoint`, problems);
    const relayOnly = switchByMap({ family: id.family, channel: channel ?? undefined });
    const as = parseAs(entry['as'], id.family, relayOnly, setpoint !== undefined, `${at}.as`, problems);
    const [site = '', zone = '', actuator = ''] = parts;
    out.set(target, {
      target,
      site,
      zone,
      actuator,
      family: id.family,
      nativeId: id.nativeId,
      ...(channel ? { channel } : {}),
      ...(generation === 1 || generation === 2 ? { generation } : {}),
      ...(setpoint ? { setpoint } : {}),
      ...(as ? { as: as.as } : {}),
      ...(as?.drives ? { drives: as.drives } : {}),
    });
  }
  return out;
}

/** A string or number as text; undefined when absent, null when something else. */
function scalarText(v: unknown): string | undefined | null {
  if (v === undefined) return undefined;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : null;
}

function parseSetpoint(v: unknown, at: string, problems: string[]): NativeActuator['setpoint'] {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return { heat: v };
  if (isRecord(v) && Object.values(v).every((x) => typeof x === 'string') && Object.keys(v).every((k) => k === 'heat' || k === 'cool')) return v;
  problems.push(`${at}: must be an attribute name (for heat) or { heat: …, cool: … }`);
  return undefined;
}

function parseGeneric(section: unknown, known: ReadonlySet<string>, problems: string[]): { mappings: CompiledMapping[]; genericKinds: Map<string, string> } {
  const mappings: CompiledMapping[] = [];
  const genericKinds = new Map<string, string>();
  if (section === undefined || section === null) return { mappings, genericKinds };
  if (!Array.isArray(section)) {
    problems.push('generic: must be a list of mappings { name, topic, id, format, fields }');
    return { mappings, genericKinds };
  }
  section.forEach((raw, i) => {
    const at = `generic[${i}]`;
    if (!isRecord(raw) || !Array.isArray(raw['fields'])) return void problems.push(`${at}: must be { name, topic, id, format: json|value, fields: [...] }`);
    // Fields naming a kind the map adds are reported by key and mapped here (the decoder knows the contract's only).
    const fields = (raw['fields'] as unknown[]).map((f): GenericField => {
      if (!isRecord(f)) return f as GenericField;
      const kind = f['kind'];
      if (typeof kind === 'string' && !(CONTRACT_KINDS as readonly string[]).includes(kind)) {
        const key = typeof f['key'] === 'string' ? f['key'] : typeof f['path'] === 'string' && f['path'] !== '' ? f['path'] : 'value';
        if (known.has(kind)) genericKinds.set(key, kind);
        else problems.push(`${at}: field ${q(key)}: unknown kind ${q(kind)} (add it under kinds:)`);
        const { kind: _dropped, ...rest } = f;
        return { ...(rest as GenericField), key };
      }
      return f;
    });
    const compiled = compileMapping({ ...(raw as unknown as GenericMapping), fields });
    if (!compiled.ok) problems.push(`${at}: ${compiled.reason}`);
    else mappings.push(compiled.compiled);
  });
  return { mappings, genericKinds };
}
