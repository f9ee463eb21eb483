/**
 * The vocabulary of native-device decoding: what a decoder gets (topic, payload, options) and what
 * it gives back. Pure data; nothing here imports from other gateway folders, so the decoders can be
 * used (and tested) on their own.
 */
import type { Learnt, LearntView, ShellyOutput, TasmotaLayout } from './learnt-types.js';

/** The kinds of the public contract (shared/DESIGN.md), with their contract units. */
export const CONTRACT_KINDS = [
  'temperature',
  'humidity',
  'co2',
  'illuminance',
  'occupancy',
  'motion',
  'contact',
  'smoke',
  'power',
  'battery',
  'keypad',
] as const;
export type ContractKind = (typeof CONTRACT_KINDS)[number];

/** The unit each contract kind is stored in; booleans and keypad have none. */
export const CONTRACT_UNITS: Readonly<Record<ContractKind, string | undefined>> = {
  temperature: '°C',
  humidity: '%',
  co2: 'ppm',
  illuminance: 'lx',
  occupancy: undefined,
  motion: undefined,
  contact: undefined,
  smoke: undefined,
  power: 'W',
  battery: '%',
  keypad: undefined,
};

export const FAMILIES = ['zigbee2mqtt', 'tasmota', 'shelly', 'esphome', 'homeassistant', 'generic'] as const;
export type Family = (typeof FAMILIES)[number];

/** An ESPHome actuator's channel `light:<id>` or `fan:<id>`: a light or fan, switched on and off like a switch. */
const ESPHOME_LIGHT_OR_FAN = /^(light|fan):/;
export const isEsphomeLightOrFan = (channel: string | null | undefined): boolean => ESPHOME_LIGHT_OR_FAN.test(channel ?? '');
/** The object id an ESPHome channel names (without `light:` or `fan:`). */
export const esphomeObjectId = (channel: string): string => channel.replace(ESPHOME_LIGHT_OR_FAN, '');

/** What the credential of the publishing client says (broker/acl.ts): a bridge's family and base, a native device. */
export interface NativeHint {
  readonly family?: Family;
  readonly nativeId?: string;
  /** A bridge's base topic (Zigbee2MQTT's). */
  readonly base?: string;
}

/** A hint as it came (a packet's, a credential's, another node's JSON): only the fields of the right type, a family the gateway knows. */
export function nativeHint(h: { readonly family?: unknown; readonly nativeId?: unknown; readonly base?: unknown } | null | undefined): NativeHint | undefined {
  if (!h) return undefined;
  const family = FAMILIES.find((f) => f === h.family);
  return { ...(family ? { family } : {}), ...(typeof h.nativeId === 'string' ? { nativeId: h.nativeId } : {}), ...(typeof h.base === 'string' ? { base: h.base } : {}) };
}

export type Scalar = number | boolean | string;

/**
 * One value a native message carried. Every scalar key the decoder sees is reported, mapped or not:
 * `kind` is the contract kind it maps to, or null when it maps to none (yet: extra kinds become
 * configurable, and they match on `key`).
 */
export interface NativeReading {
  /** The key as the firmware names it, made into a path: `temperature`, `AM2301.Temperature`, `switch:0.apower`, `sensor/garage_temperature`. */
  key: string;
  kind: ContractKind | null;
  /** In contract units and polarity when `kind` is set (°C, contact true = open); as sent (numbers parsed) when not. */
  value: Scalar;
  /** Contract unit for a mapped kind; the native unit, when the firmware says one, for an unmapped key. */
  unit?: string;
  /**
   * Which source inside the device this is, where the firmware can have several (a Tasmota driver
   * block `DS18B20-1`, a Shelly `switch:0` or `ext_temperature/1`, an ESPHome object id). Undefined
   * where the firmware has one of each kind (Zigbee2MQTT).
   */
  channel?: string;
}

/** An actuator's reported state, shaped like a command's `data` (`{"state":"on"}`, `{"mode":"heat","setpoint":21}`). */
export interface ActuatorState {
  state?: 'on' | 'off';
  mode?: string;
  setpoint?: number;
  [extra: string]: Scalar | undefined;
}

export interface ActuatorReport {
  /** Relay / switch number or component id as the firmware numbers it (`1` for Tasmota POWER1, `0` for Shelly relay/0, `l1`, `climate id`); undefined for the device's only one. */
  channel?: string;
  state: ActuatorState;
  /** The firmware says this state is the one it set at power-on (a Shelly Gen2 switch's `source: "init"`): why, for the log. */
  cameBack?: string;
  /** The firmware says what set this state and it was not power-on (a Shelly Gen2 `source` "button", "WS_in"…): a reconnect does not make it the power-on state. */
  notAtPowerOn?: boolean;
}

interface Teaches {
  /** What this message taught beyond its values (a device's mode, a bridge's output). */
  learnt?: Learnt[];
}

interface Origin {
  family: Family;
  /** The native id: friendly name, Tasmota topic, Shelly id or prefix, ESPHome node prefix, discovery device id. */
  nativeId: string;
  /** Zigbee2MQTT: the base topic of the bridge the message came through (several bridges: several bases). */
  base?: string;
}

/** A message that carried values (readings and/or actuator state). */
export interface Decoded extends Origin, Teaches {
  outcome: 'decoded';
  readings: NativeReading[];
  actuators: ActuatorReport[];
  /** ISO-8601 UTC; only when the firmware sent an offset-bearing or epoch time. A local time without offset is not trusted. */
  ts?: string;
  /** Keys that held something other than a scalar (objects, arrays, null); listed, not stored. */
  otherKeys: string[];
  /** Values that could not be decoded while others could (`AM2301.Temperature is null, not a number`). */
  problems: string[];
}

export interface Availability extends Origin, Teaches {
  outcome: 'availability';
  online: boolean;
  /** `bridge`: the bridge itself (Zigbee2MQTT bridge/state): when it goes offline, all its devices are offline. */
  scope: 'device' | 'bridge';
}

/** Traffic of a known family that is not a reading: bridge logs, INFO messages, announcements, commands seen on the bus. */
export interface Recognised extends Teaches {
  outcome: 'recognised';
  family: Family;
  nativeId?: string;
  what: string;
  /** The device just restarted or rejoined (a Zigbee2MQTT `device_announce`, a Tasmota INFO3): why, for the log. */
  cameBack?: string;
  /** A Shelly Gen2+ (`src`, its device id) answered the gateway's RPC request `rpcId` with an error. */
  rpcError?: { readonly src: string; readonly rpcId: number | string; readonly code: number | undefined; readonly message: string };
}

export type ShellyRpcError = NonNullable<Recognised['rpcError']>;

export interface Failure extends Teaches {
  outcome: 'failure';
  family: Family;
  nativeId?: string;
  /** `<family>:<native id>: <key> is "n/a", not a number` */
  detail: string;
}

export interface NotMine {
  outcome: 'not_mine';
}

/** How an actuator takes a mode: a plain on/off switch (a relay, a plug) is on for any mode but off; a thermostat takes the mode and setpoint. */
export type ActuatorForm = 'switch' | 'thermostat';

export * from './learnt-types.js';

export type DecodeResult = Decoded | Availability | Recognised | Failure | NotMine;

export interface TasmotaOptions {
  /** FullTopic templates the devices use; default `['%prefix%/%topic%/']`. */
  fullTopics?: readonly string[];
  /** Prefix1..3; default cmnd, stat, tele. */
  prefixes?: { cmnd?: string; stat?: string; tele?: string };
}

export interface DecodeOptions {
  /** Zigbee2MQTT base topic, default `zigbee2mqtt`. */
  zigbee2mqttBaseTopic?: string;
  /** Home Assistant discovery prefix, default `homeassistant`. */
  discoveryPrefix?: string;
  tasmota?: TasmotaOptions;
  /** Shelly Gen1 devices whose H&T / sensor temperatures are configured in °F (Gen1 topics carry no unit). */
  shellyFahrenheit?: readonly string[];
  /**
   * ESPHome state topics carry no unit or class: kinds for `<component>/<object id>` keys, by node
   * (`{ 'f1-node': { 'sensor/t': 'temperature' } }`) or for every node (`'*'`). Without an entry a
   * key maps only when its object id's last word names a kind (`garage_temperature`).
   */
  esphomeKinds?: Readonly<Record<string, Readonly<Record<string, ContractKind>>>>;
  /** The unit those keys are announced in by discovery (`°F`, `kW`), by node: a temperature is converted to °C, kW to W. */
  esphomeUnits?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** What the router learnt from earlier messages; without it, what the firmware's defaults say. */
  learnt?: LearntView;
  /**
   * The native id the publishing client's credential is bound to (a `native` credential of this
   * family): a payload that names another device is refused (a Shelly's `shellies/announce`).
   */
  speaksFor?: string;
}

export interface EncodeOptions extends DecodeOptions {
  /** Shelly generation of the target; default guessed from the id (`shellyplus…`, `shellypro…`, `…g3`/`g4` are Gen2+). */
  shellyGeneration?: 1 | 2;
  /** A Gen1 colour light's mode (RGBW2: `color/0` or `white/<n>`), as learnt from the device; default from its id. */
  shellyLightMode?: 'color' | 'white';
  /** A Gen2+ output's component as learnt from the device's status (`light` → `Light.Set`); default from its id, else `switch`. */
  shellyOutput?: ShellyOutput;
  /** Gen2+ RPC frame `id` (the commander gives each request its own) and `src` (replies go to `<src>/rpc`); default 1 and `iot-gateway`. */
  rpcId?: number;
  rpcSrc?: string;
  /** Zigbee2MQTT: the attribute a setpoint goes to, per mode; default occupied_heating_setpoint / occupied_cooling_setpoint (Tuya TRVs: current_heating_setpoint). */
  setpointKeys?: { heat?: string; cool?: string };
  /** A Tasmota's own FullTopic and prefixes, as learnt (LearntView.tasmotaLayout); default the map's first template. */
  tasmotaLayout?: TasmotaLayout;
}

/**
 * A command as the rules make it (`data` of a command event); or a heating setpoint alone, to the
 * device's attribute: a valve that cannot be switched off turned down to its minimum instead.
 */
export type NativeCommand = { state: 'on' | 'off' } | { mode: string; setpoint?: number } | { attribute: string; setpoint: number };

export interface NativePublish {
  topic: string;
  payload: string;
}

export type EncodeResult = { ok: true; publishes: NativePublish[] } | { ok: false; reason: string };
