/**
 * What the devices layer learns from native messages beyond their values (learnt.ts keeps it): the
 * types, apart from the decoders' own (types.ts re-exports them).
 */
import type { ActuatorForm } from './types.js';

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
  /** A Gen2+ Shelly's full status (NotifyFullStatus) lists these outputs and no other: they replace what was learnt (its profile changed: light:0 → rgbw:0, switch:0 → cover:0). */
  | { what: 'shellyOutputs'; nativeId: string; outputs: Readonly<Record<string, readonly ShellyOutput[]>> }
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
  | { what: 'tasmotaLayout'; topic: string; fullTopic: string; prefixes: { cmnd: string; stat: string; tele: string }; hostname?: string; id?: string };

/** The Gen2+ Shelly components with an on/off `output`, each commanded by its own `<Type>.Set` (`Switch.Set`, `Light.Set`, `RGBW.Set`…). */
const SHELLY_OUTPUTS = ['switch', 'light', 'rgb', 'rgbw', 'cct', 'rgbcct'] as const;
export type ShellyOutput = (typeof SHELLY_OUTPUTS)[number];
export const isShellyOutput = (v: unknown): v is ShellyOutput => (SHELLY_OUTPUTS as readonly unknown[]).includes(v);
/**
 * A channel's components with `component` the latest, every other kept: a channel may be a switch
 * and a light, or two lights (a Pro RGBWW PM's rgb:0 beside light:0 or cct:0). Only a full status
 * drops one (its profile changed: learnt.ts).
 */
export const withOutput = (components: readonly ShellyOutput[], component: ShellyOutput): ShellyOutput[] => [...components.filter((c) => c !== component), component];

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
  /** The Gen2+ component a Shelly's output `channel` is commanded by: `prefer` when the channel was reported as that too, else chosen by kind, not by which reported last (learnt.ts). */
  shellyOutput(nativeId: string, channel: string, prefer?: ShellyOutput): ShellyOutput | undefined;
  /** Each output of a Gen2+ Shelly learnt so far, by channel, the latest last. */
  shellyOutputs(nativeId: string): ReadonlyMap<string, readonly ShellyOutput[]> | undefined;
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
  /** What it puts for `%hostname%` and `%id%` (its MAC without colons), where its FullTopic has them. */
  readonly hostname?: string;
  readonly id?: string;
}
