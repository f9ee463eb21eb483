/**
 * The device map compiled for lookups on every native message: where a native device's readings
 * go (per channel), which kind a native key is, and which actuators a native report is about.
 */
import { isSegment } from '../core/segments.js';
import { mapValue } from './collect.js';
import { deviceName, type DeviceMap, type NativeActuator, type NativeDevice, type Placement } from './map.js';
import { convertPressure, toBool } from './normalise.js';
import { CONTRACT_KINDS, esphomeObjectId, type ContractKind, type Family, type NativeReading, type Scalar } from './types.js';

export type KindChoice =
  | { readonly kind: string; readonly value: Scalar }
  /** `ignored`: a key the map says to leave alone, not even counted; `why`: a value the kind cannot take. */
  | { readonly kind: null; readonly why?: string; readonly ignored?: true };

const CONTRACT = new Set<string>(CONTRACT_KINDS);

/**
 * The channel a report without one means: Tasmota's POWER is POWER1, a Shelly's only relay is 0;
 * an ESPHome light or fan reports by its object id. What the registry lists an actuator's report by.
 */
export function channelOf(family: Family, channel: string | undefined): string {
  if (channel !== undefined) return family === 'esphome' ? esphomeObjectId(channel) : channel;
  return family === 'tasmota' ? '1' : family === 'shelly' ? '0' : '';
}

/** The channel an actuator entry's reports come on, as `actuatorsFor` finds them: none for a Home Assistant or Zigbee2MQTT entry without one. */
export function reportChannel(a: Pick<NativeActuator, 'family' | 'channel'>): string {
  return a.channel === undefined && (a.family === 'homeassistant' || a.family === 'zigbee2mqtt') ? '' : channelOf(a.family, a.channel);
}

const norm = (unit: string): string => unit.trim().replace(/^°/, '').toLowerCase();

/**
 * What a value in `from` is multiplied by to be in `to`: 1 for the same unit, a milli or kilo apart
 * (mV and V, Wh and kWh: the prefix's case kept, m is never M); undefined for units no factor joins.
 */
export function unitScale(from: string, to: string): number | undefined {
  const [f, t] = [from.trim(), to.trim()];
  if (norm(f) === norm(t)) return 1;
  const prefixed = (a: string, b: string, p: string): boolean => a.length > 1 && a.startsWith(p) && norm(a.slice(1)) === norm(b);
  if (prefixed(f, t, 'm')) return 0.001;
  if (prefixed(t, f, 'm')) return 1000;
  if (prefixed(f, t, 'k')) return 1000;
  if (prefixed(t, f, 'k')) return 0.001;
  return undefined;
}

function lastWord(key: string): string {
  const parts = key.toLowerCase().split(/[./:]/);
  return parts[parts.length - 1] ?? '';
}

export class Placements {
  /** Native devices placed by an actuator entry only: at the actuator's site and zone. */
  private readonly implied = new Map<string, readonly Placement[]>();
  private readonly byReport = new Map<string, NativeActuator[]>();
  private readonly kindCache = new Map<string, string | null>();
  /** The map's native devices by the contract device they place: a silence sweep asks per device. */
  private readonly byContractDevice = new Map<string, NativeDevice[]>();
  /** Where each contract device the map places is (its first placement), an actuator-only device's too. */
  private readonly zoneOfDevice = new Map<string, Placement>();
  /** The unit of each kind the map adds, by name: looked up per reading that says its unit. */
  private readonly addedUnits: ReadonlyMap<string, string>;

  constructor(readonly map: DeviceMap) {
    this.addedUnits = new Map(map.kinds.map((k) => [k.name, k.unit]));
    for (const d of map.devices.values()) {
      for (const device of new Set(d.placements.map((p) => p.device))) {
        const list = this.byContractDevice.get(device) ?? [];
        list.push(d);
        this.byContractDevice.set(device, list);
      }
      for (const p of d.placements) if (!this.zoneOfDevice.has(p.device)) this.zoneOfDevice.set(p.device, p);
    }
    for (const a of map.actuators.values()) {
      const key = `${a.family}:${a.nativeId}`;
      if (!map.devices.has(key) && !this.implied.has(key)) {
        const p = { site: a.site, zone: a.zone, device: deviceName(a.nativeId) };
        this.implied.set(key, [p]);
        if (!this.zoneOfDevice.has(p.device)) this.zoneOfDevice.set(p.device, p);
      }
      const report = `${key}#${reportChannel(a)}`;
      const list = this.byReport.get(report) ?? [];
      list.push(a);
      this.byReport.set(report, list);
    }
  }

  device(family: Family, nativeId: string): NativeDevice | undefined {
    return this.map.devices.get(`${family}:${nativeId}`);
  }

  /**
   * The site and zone of a contract device the map places: its status (`device_status`) names the
   * device only, and an actuator-only device sends nothing else that says where it is.
   */
  zoneOf(device: string): Placement | undefined {
    return this.zoneOfDevice.get(device);
  }

  /** The map's native devices with a placement as contract device `device`. */
  placing(device: string): readonly NativeDevice[] {
    return this.byContractDevice.get(device) ?? [];
  }

  /**
   * Where a native device's readings go: the map's entry, else the site and zone of an actuator
   * entry that names it, else (Zigbee2MQTT) a friendly name `<site>/<zone>/<device>`. Undefined:
   * the device waits for a zone.
   */
  placementsOf(family: Family, nativeId: string): readonly Placement[] | undefined {
    const key = `${family}:${nativeId}`;
    const own = this.map.devices.get(key)?.placements ?? this.implied.get(key);
    if (own) return own;
    if (family === 'zigbee2mqtt') {
      const parts = nativeId.split('/');
      if (parts.length === 3 && parts.every(isSegment)) return [{ site: parts[0]!, zone: parts[1]!, device: parts[2]! }];
    }
    return undefined;
  }

  /** The placement a reading of `channel` goes to: the one for that channel, else the one without. */
  placementFor(placements: readonly Placement[], channel: string | undefined): Placement | undefined {
    let fallback: Placement | undefined;
    for (const p of placements) {
      if (p.channel === undefined) fallback ??= p;
      else if (p.channel === channel) return p;
    }
    return fallback;
  }

  /** The mapped actuators a native report is about (Tasmota POWER = POWER1, a Shelly's relay 0 by default). */
  actuatorsFor(family: Family, nativeId: string, channel: string | undefined): readonly NativeActuator[] {
    const key = `${family}:${nativeId}#`;
    const exact = this.byReport.get(key + channelOf(family, channel));
    if (family === 'homeassistant') return exact ?? this.byReport.get(key) ?? [];
    return exact ?? [];
  }

  /**
   * The kind a native value is stored as, and its value in that kind's terms: the device's own
   * `keys:` first, then the decoder's choice, then the kinds the map adds (their `keys:` patterns,
   * or a key whose last word is the kind's name: `pressure`, `BME280.Pressure`, `switch:0.voltage`).
   */
  kindOf(device: NativeDevice | undefined, family: Family, r: NativeReading): KindChoice {
    const rule = device?.keys.get(r.key);
    if (rule) {
      if (rule.kind === null) return { kind: null, ignored: true };
      // The entry's scale says it; without one, a unit the firmware says a prefix from the kind's is converted (mV → V).
      return convert(rule.kind, r, rule.scale ?? this.unitFactor(rule.kind, r), rule.invert);
    }
    if (r.kind !== null) return { kind: r.kind, value: r.value };
    const cacheKey = `${family}\u0000${r.key}`;
    let kind = this.kindCache.get(cacheKey);
    if (kind === undefined) {
      kind = (family === 'generic' ? this.map.genericKinds.get(r.key) : undefined) ?? this.addedKindOf(r.key) ?? null;
      if (this.kindCache.size < 50_000) this.kindCache.set(cacheKey, kind);
    }
    if (kind === null) return { kind: null };
    // A unit the firmware says (Tasmota's PressureUnit, a discovery config's, Zigbee2MQTT's bridge/devices) must be the
    // added kind's, or a milli or kilo from it (a battery's voltage in mV for a kind in V).
    const unit = r.unit === undefined ? undefined : this.addedUnits.get(kind);
    const scale = unit !== undefined && r.unit !== undefined ? unitScale(r.unit, unit) : 1;
    if (scale !== undefined) return convert(kind, r, scale === 1 ? undefined : scale, undefined);
    // A pressure in another pressure unit (Tasmota's mmHg, inHg) is converted, as a °F temperature is.
    const value = typeof r.value === 'number' && r.unit !== undefined && unit !== undefined ? convertPressure(r.value, r.unit, unit) : null;
    if (value === null) return { kind: null, why: `${r.key} is in ${r.unit ?? '?'}, kind ${kind} is in ${unit ?? '?'}` };
    return convert(kind, { ...r, value }, undefined, undefined);
  }

  /** The factor from the unit a reading says to the added kind's, when they differ by a milli or kilo. */
  private unitFactor(kind: string, r: NativeReading): number | undefined {
    const unit = r.unit === undefined ? undefined : this.addedUnits.get(kind);
    const scale = unit === undefined || r.unit === undefined ? undefined : unitScale(r.unit, unit);
    return scale === 1 ? undefined : scale;
  }

  private addedKindOf(key: string): string | undefined {
    const word = lastWord(key);
    for (const k of this.map.kinds) {
      const patterns = this.map.kindKeys.get(k.name) ?? [];
      if (patterns.some((p) => p.test(key))) return k.name;
      const name = k.name.toLowerCase();
      if (word === name || word.endsWith(`_${name}`)) return k.name;
    }
    return undefined;
  }
}

function convert(kind: string, r: NativeReading, scale: number | undefined, invert: boolean | undefined): KindChoice {
  if (CONTRACT.has(kind)) {
    if (r.kind === kind && scale === undefined && !invert) return { kind, value: r.value };
    // A value kept unmapped keeps its firmware's unit (a Tasmota's TempUnit F): a `keys:` rule making it a temperature converts it.
    const unit = r.kind === null && kind === 'temperature' ? r.unit : undefined;
    const m = mapValue(kind as ContractKind, r.value, { ...(scale === undefined ? {} : { scale }), ...(invert ? { invert } : {}), ...(unit === undefined ? {} : { unit }) });
    return m.ok ? { kind, value: m.value } : { kind: null, why: `${r.key} ${m.why}` };
  }
  if (typeof r.value === 'boolean' || (typeof r.value === 'string' && toBool(r.value) !== null)) {
    const b = toBool(r.value)!;
    return { kind, value: invert ? !b : b };
  }
  if (typeof r.value === 'number') return { kind, value: scale === undefined ? r.value : Math.round(r.value * scale * 1e6) / 1e6 };
  return { kind: null, why: `${r.key} is ${JSON.stringify(r.value)}, not a value of ${kind}` };
}
