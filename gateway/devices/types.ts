/**
 * The vocabulary of native-device decoding: what a decoder gets (topic, payload, options) and what
 * it gives back. Pure data; nothing here imports from other gateway folders, so the decoders can be
 * used (and tested) on their own.
 */

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

/**
 * What a Zigbee2MQTT device is, by its exposes in `bridge/devices`: `form` for the device as a
 * whole (a command with no channel), `endpoints` for each endpoint that is one (`l1`, `left`).
 */
export interface Zigbee2mqttForms {
  readonly form?: ActuatorForm;
  readonly endpoints?: ReadonlyMap<string, ActuatorForm>;
  /** The modes a climate expose's `system_mode` accepts (its `values`), by endpoint (`''`: the device as a whole). */
  readonly modes?: ReadonlyMap<string, readonly string[]>;
  /** A climate expose's heating setpoint at its lowest (its `value_min`), by endpoint as `modes`. */
  readonly floors?: ReadonlyMap<string, HeatingFloor>;
}

/** A thermostat's heating setpoint attribute and the lowest value it takes (a Danfoss Ally: occupied_heating_setpoint, 5). */
export interface HeatingFloor {
  readonly attribute: string;
  readonly value: number;
}

/** A Zigbee2MQTT bridge's `advanced.output`: JSON on `<name>`, each key alone on `<name>/<key>`, or both. */
export type Zigbee2mqttOutput = 'json' | 'attribute' | 'attribute_and_json';

/**
 * What a message taught about its device or bridge, beyond its values: the router keeps it (not
 * from a redriven dead letter) and gives it back to the decoders as {@link DecodeOptions.learnt}.
 */
export type Learnt =
  /** A Gen1 colour light (RGBW2, Bulb) reports on `color/…` or `white/…`, or announced that mode. */
  | { what: 'shellyLightMode'; nativeId: string; mode: 'color' | 'white' }
  /** A Gen2+ Shelly's status shows output `channel` as a `switch:<n>`, `light:<n>`, `rgbw:<n>`…: the component its commands go to. */
  | { what: 'shellyOutput'; nativeId: string; channel: string; component: ShellyOutput }
  /** `<base>/bridge/info` said the bridge's `advanced.output`. */
  | { what: 'zigbee2mqttOutput'; base: string; output: Zigbee2mqttOutput }
  /** `<base>/bridge/state` online: a (re)started bridge, whose output may have changed. */
  | { what: 'zigbee2mqttBridgeOnline'; base: string }
  /** A device's JSON state on `<base>/<name>`. */
  | { what: 'zigbee2mqttJson'; base: string; name: string }
  /** A device sent `<base>/<name>/<key>` alone, for a key that names a kind. */
  | { what: 'zigbee2mqttKey'; base: string; name: string; key: string }
  /** `<base>/bridge/devices`: what each device is, by friendly name, its `ieee_address` (`addresses`) and its numeric keys' units (`units`); replaces what the last one said. */
  | { what: 'zigbee2mqttDevices'; base: string; devices: ReadonlyMap<string, Zigbee2mqttForms>; addresses?: ReadonlyMap<string, string>; units?: ReadonlyMap<string, ReadonlyMap<string, string>> }
  /** `<base>/bridge/response/device/rename` (or `group/rename`) with status ok: `from` is now called `to`. */
  | { what: 'zigbee2mqttRenamed'; base: string; from: string; to: string }
  /** A Tasmota's discovery config announced a FullTopic (`ft`, with its prefixes `tp`) the device map does not accept. */
  | { what: 'tasmotaFullTopic'; topic: string; fullTopic: string; prefixes: { cmnd: string; stat: string; tele: string } }
  /** The FullTopic and prefixes a Tasmota's own messages (`tele`, `stat`) or discovery config use, when not the map's first: its commands follow them. */
  | { what: 'tasmotaLayout'; topic: string; fullTopic: string; prefixes: { cmnd: string; stat: string; tele: string } };

/** The Gen2+ Shelly components with an on/off `output`, each commanded by its own `<Type>.Set` (`Switch.Set`, `Light.Set`, `RGBW.Set`…). */
export const SHELLY_OUTPUTS = ['switch', 'light', 'rgb', 'rgbw', 'cct', 'rgbcct'] as const;
export type ShellyOutput = (typeof SHELLY_OUTPUTS)[number];
export const isShellyOutput = (v: unknown): v is ShellyOutput => (SHELLY_OUTPUTS as readonly unknown[]).includes(v);

/** A Zigbee2MQTT device (or group) renamed: seen in a new `bridge/devices` (same `ieee`, another name) or in the bridge's answer to the rename. */
export interface Zigbee2mqttRename {
  readonly base: string;
  readonly from: string;
  readonly to: string;
  readonly ieee?: string;
  readonly by: 'bridge/devices' | 'bridge/response';
}

/** What the router has learnt so far (see {@link Learnt}), as the decoders read it. */
export interface LearntView {
  shellyLightMode(nativeId: string): 'color' | 'white' | undefined;
  /** The Gen2+ component a Shelly's output `channel` was last reported as. */
  shellyOutput(nativeId: string, channel: string): ShellyOutput | undefined;
  zigbee2mqttOutput(base: string): Zigbee2mqttOutput | undefined;
  /** Whether the device's JSON state has been seen since its bridge last came online. */
  zigbee2mqttJsonSeen(base: string, name: string): boolean;
  /** The kind-naming keys the device has sent alone so far. */
  zigbee2mqttKeys(base: string, name: string): ReadonlySet<string> | undefined;
  /** What the bridge's last `bridge/devices` says the device (or its endpoint `channel`) is; undefined when it says nothing. */
  zigbee2mqttForm(base: string, name: string, channel: string | undefined): ActuatorForm | undefined;
  /** The modes the bridge's last `bridge/devices` says the device (or its endpoint `channel`) accepts; undefined when it says none. */
  zigbee2mqttModes(base: string, name: string, channel: string | undefined): readonly string[] | undefined;
  /** The unit the bridge's last `bridge/devices` gives the device's numeric key (`voltage`: `mV` or `V`); undefined when it gives none. */
  zigbee2mqttUnit(base: string, name: string, key: string): string | undefined;
  /** The FullTopic and prefixes a Tasmota's own word last said it uses, when not the map's first template. */
  tasmotaLayout(topic: string): TasmotaLayout | undefined;
}

export interface TasmotaLayout {
  readonly fullTopic: string;
  readonly prefixes: { readonly cmnd: string; readonly stat: string; readonly tele: string };
}

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
