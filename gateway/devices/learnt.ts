/**
 * What the router has learnt from native messages beyond their values (types.ts `Learnt`): which
 * topics a Gen1 Shelly colour light uses, how a Zigbee2MQTT bridge publishes its devices' state,
 * and what each of its devices is (a switch or a thermostat, from `bridge/devices`). In memory and
 * bounded: devices say it again (a Shelly announces itself at each connection and reports every
 * 30 s; Zigbee2MQTT publishes `bridge/info` and its retained `bridge/devices` when it starts).
 * A device renamed in Zigbee2MQTT keeps its `ieee_address`: a new `bridge/devices` that lists one
 * under another name, or the bridge's answer to the rename, is told to `renamed` (rename.ts).
 */
import { BoundedMap } from '../core/bounded-map.js';
import type { EvictingMap, OnEvicted } from '../observability/evictions.js';
import { AnnouncedFullTopics, type AnnouncedTopic } from './tasmota-topics.js';
import { withOutput, type ActuatorForm, type HeatingFloor, type Learnt, type LearntView, type ShellyOutput, type TasmotaLayout, type Zigbee2mqttForms, type Zigbee2mqttOutput, type Zigbee2mqttRename } from './types.js';

const MAX_DEVICES = 10_000;
/** A Gen2+ Shelly has up to four outputs; a status naming more is not a real one's. */
const MAX_SHELLY_OUTPUTS = 16;
/** Zigbee2MQTT bridges are a handful; their base topics come from credentials or one setting. */
const MAX_BRIDGES = 64;

const deviceKey = (base: string, name: string): string => `${base}\u0000${name}`;

/**
 * Which light a channel with several is commanded by (a Pro RGBWW PM: rgb:0 and light:0 in its
 * rgbx2light profile, rgb:0 and cct:0 in rgbcct): a plain on/off the white one, a colour command
 * the colour one. Fixed, so that which reported last does not move a command (README, Shelly).
 */
const PLAIN_LIGHTS: readonly ShellyOutput[] = ['light', 'cct', 'rgbw', 'rgb', 'rgbcct'];
const COLOUR_LIGHTS: readonly ShellyOutput[] = ['rgb', 'rgbw', 'rgbcct', 'light', 'cct'];
const COLOUR = new Set<ShellyOutput>(['rgb', 'rgbw', 'rgbcct']);

/** `component` is (or is again) output `channel`'s, the latest; the channel's others stay (only a full status replaces them). */
function addOutput(outputs: Map<string, ShellyOutput[]>, channel: string, component: ShellyOutput): void {
  if (outputs.size < MAX_SHELLY_OUTPUTS || outputs.has(channel)) outputs.set(channel, withOutput(outputs.get(channel) ?? [], component)).set('', [component]);
}

export class LearntFacts implements LearntView {
  private readonly lightModes: BoundedMap<string, 'color' | 'white'>;
  /**
   * Each Gen2+ Shelly's outputs by channel (`light:0` → 0: [light]), and under '' the last one
   * reported. A channel may be several components (`switch:0` and `light:0`; `rgb:0` and `light:0`):
   * each kept, the latest last. A full status replaces all (a profile changed: light:0 → rgbw:0).
   */
  private readonly shellyComponents: BoundedMap<string, Map<string, ShellyOutput[]>>;
  private readonly outputs: BoundedMap<string, Zigbee2mqttOutput>;
  /** Devices whose JSON state came since their bridge came online, by base. */
  private readonly jsonSeen: BoundedMap<string, BoundedMap<string, true>>;
  private readonly keys: BoundedMap<string, Set<string>>;
  /** What each device is, by base then friendly name: the last bridge/devices, whole. */
  private readonly forms: BoundedMap<string, BoundedMap<string, Zigbee2mqttForms>>;
  /** Told of each Shelly whose outputs (Gen2+) or light mode (Gen1) were forgotten to stay within the bound (kept-learning.ts retains what is left). */
  shellyForgotten: ((nativeId: string) => void) | undefined;
  /** Each device's friendly name by its ieee_address, by base: the last bridge/devices (bounded as `forms`, whose evictions are the ones told). */
  private readonly addresses = new BoundedMap<string, Map<string, string>>(MAX_BRIDGES);
  /** Each device's numeric keys' units, by base then friendly name: the last bridge/devices (bounded as `forms`). */
  private readonly units = new BoundedMap<string, ReadonlyMap<string, ReadonlyMap<string, string>>>(MAX_BRIDGES);
  /** The friendly names the last bridge/devices listed (with a definition or not), by base. */
  private readonly listed = new BoundedMap<string, ReadonlySet<string>>(MAX_BRIDGES);
  /** The name a device had before its last rename, by its new name: for the advice of its dead letters. */
  private readonly formerNames = new BoundedMap<string, string>(MAX_DEVICES);
  private readonly bounded: <V>(map: EvictingMap, capacity: number) => BoundedMap<string, V>;
  /** FullTopics Tasmotas announced that the map does not accept: the hint of their dead letters. */
  readonly tasmotaFullTopics: AnnouncedFullTopics;
  /** Each Tasmota's own FullTopic, when not the map's first template: where its commands go. */
  private readonly tasmotaLayouts: BoundedMap<string, TasmotaLayout>;

  /**
   * `evicted`: told of each fact forgotten to stay within the bounds (observability/evictions.ts);
   * `renamed`: told of each Zigbee2MQTT rename, at once (the device's next message uses its new name).
   */
  constructor(
    evicted?: OnEvicted,
    private readonly renamed?: (r: Zigbee2mqttRename) => void,
  ) {
    const cost = 'learnt again when the device says it again';
    this.bounded = (map, capacity) => new BoundedMap(capacity, evicted && (() => evicted(map, capacity, cost)));
    // What kept-learning.ts retained of a Shelly forgotten goes too: the retained ones stay those the tables hold.
    const forgetting = (map: EvictingMap) => (nativeId: string) => {
      evicted?.(map, MAX_DEVICES, cost);
      this.shellyForgotten?.(nativeId);
    };
    this.lightModes = new BoundedMap(MAX_DEVICES, forgetting('shelly_light_modes'));
    this.shellyComponents = new BoundedMap(MAX_DEVICES, forgetting('shelly_outputs'));
    this.outputs = this.bounded('zigbee2mqtt_outputs', MAX_BRIDGES);
    this.jsonSeen = this.bounded('zigbee2mqtt_json_seen', MAX_BRIDGES);
    this.keys = this.bounded('zigbee2mqtt_keys', MAX_DEVICES);
    this.forms = this.bounded('zigbee2mqtt_forms', MAX_BRIDGES);
    this.tasmotaFullTopics = new AnnouncedFullTopics(this.bounded<AnnouncedTopic>('tasmota_full_topics', MAX_DEVICES));
    this.tasmotaLayouts = this.bounded('tasmota_layouts', MAX_DEVICES);
  }

  apply(facts: readonly Learnt[]): void {
    for (const f of facts) {
      switch (f.what) {
        case 'shellyLightMode':
          this.lightModes.set(f.nativeId, f.mode);
          break;
        case 'shellyOutput':
          addOutput(this.shellyOutputsOf(f.nativeId), f.channel, f.component);
          break;
        case 'shellyOutputs': {
          // A full status: what it lists and nothing else (a profile changed drops the old components).
          this.shellyComponents.delete(f.nativeId);
          for (const [channel, components] of Object.entries(f.outputs)) for (const c of components) addOutput(this.shellyOutputsOf(f.nativeId), channel, c);
          break;
        }
        case 'zigbee2mqttOutput':
          this.outputs.set(f.base, f.output);
          break;
        case 'zigbee2mqttBridgeOnline':
          // A restarted bridge may publish otherwise: its bridge/info (next) or its devices say again.
          this.outputs.delete(f.base);
          this.jsonSeen.delete(f.base);
          break;
        case 'zigbee2mqttJson': {
          let names = this.jsonSeen.get(f.base);
          if (!names) this.jsonSeen.set(f.base, (names = this.bounded('zigbee2mqtt_json_seen', MAX_DEVICES)));
          names.set(f.name, true);
          break;
        }
        case 'zigbee2mqttDevices': {
          // The whole list each time: a device renamed or removed is no longer in it.
          const names = this.bounded<Zigbee2mqttForms>('zigbee2mqtt_forms', MAX_DEVICES);
          for (const [name, forms] of f.devices) names.set(name, forms);
          this.forms.set(f.base, names);
          if (f.units) this.units.set(f.base, f.units);
          if (f.addresses) this.readdress(f.base, f.addresses);
          break;
        }
        case 'tasmotaFullTopic':
          this.tasmotaFullTopics.set(f.topic, { fullTopic: f.fullTopic, prefixes: f.prefixes });
          break;
        case 'tasmotaLayout':
          this.tasmotaLayouts.set(f.topic, { fullTopic: f.fullTopic, prefixes: f.prefixes, ...(f.hostname === undefined ? {} : { hostname: f.hostname }), ...(f.id === undefined ? {} : { id: f.id }) });
          break;
        case 'zigbee2mqttRenamed': {
          // Zigbee2MQTT publishes the new bridge/devices before this answer: told once, by the list, when it came.
          const names = this.addresses.get(f.base);
          const ieee = names ? [...names].find(([, name]) => name === f.from)?.[0] : undefined;
          if (names && ieee === undefined && [...names.values()].includes(f.to)) break;
          if (ieee !== undefined) names?.set(ieee, f.to);
          this.rename({ base: f.base, from: f.from, to: f.to, ...(ieee === undefined ? {} : { ieee }), by: 'bridge/response' });
          break;
        }
        case 'zigbee2mqttKey': {
          const k = deviceKey(f.base, f.name);
          const set = this.keys.get(k);
          if (set) set.add(f.key);
          else this.keys.set(k, new Set([f.key]));
          break;
        }
      }
    }
  }

  /** A new list of a bridge's devices: one listed under another name than in the last list was renamed. */
  private readdress(base: string, byName: ReadonlyMap<string, string>): void {
    const before = this.addresses.get(base);
    const now = new Map<string, string>();
    for (const [name, ieee] of byName) now.set(ieee, name);
    this.listed.set(base, new Set(byName.keys()));
    this.addresses.set(base, now);
    if (!before) return;
    for (const [ieee, to] of now) {
      const from = before.get(ieee);
      if (from !== undefined && from !== to) this.rename({ base, from, to, ieee, by: 'bridge/devices' });
    }
  }

  /** What was learnt of the old name is the new name's (its bridge/devices entry is already under it). */
  private rename(r: Zigbee2mqttRename): void {
    const seen = this.jsonSeen.get(r.base);
    if (seen?.delete(r.from)) seen.set(r.to, true);
    const keys = this.keys.get(deviceKey(r.base, r.from));
    if (keys) {
      this.keys.delete(deviceKey(r.base, r.from));
      this.keys.set(deviceKey(r.base, r.to), keys);
    }
    this.formerNames.set(r.to, r.from);
    this.renamed?.(r);
  }

  /** The friendly name a Zigbee2MQTT device had before it was last renamed, if it was since the start. */
  formerName(name: string): string | undefined {
    return this.formerNames.get(name);
  }

  tasmotaLayout(topic: string): TasmotaLayout | undefined {
    return this.tasmotaLayouts.get(topic);
  }

  shellyLightMode(nativeId: string): 'color' | 'white' | undefined {
    return this.lightModes.get(nativeId);
  }

  private shellyOutputsOf(nativeId: string): Map<string, ShellyOutput[]> {
    let outputs = this.shellyComponents.get(nativeId);
    if (!outputs) this.shellyComponents.set(nativeId, (outputs = new Map<string, ShellyOutput[]>()));
    return outputs;
  }

  /**
   * What output `channel` of a Gen2+ Shelly was reported as; a channel not heard yet is taken to be
   * as the device's last reported. One that is several components: `prefer` when it is one of them;
   * else a light's (`prefer` a light) by PLAIN_LIGHTS, or COLOUR_LIGHTS for `rgb`, `rgbw`, `rgbcct`,
   * then the switch; a switch's (`prefer` switch) a light by PLAIN_LIGHTS. No `prefer`: the latest.
   */
  shellyOutput(nativeId: string, channel: string, prefer?: ShellyOutput): ShellyOutput | undefined {
    const outputs = this.shellyComponents.get(nativeId);
    const here = outputs?.get(channel);
    if (!here) return outputs?.get('')?.at(-1);
    if (prefer === undefined || here.includes(prefer)) return prefer ?? here.at(-1);
    return (COLOUR.has(prefer) ? COLOUR_LIGHTS : PLAIN_LIGHTS).find((c) => here.includes(c)) ?? here.at(-1);
  }

  /** Each output of a Gen2+ Shelly heard so far, by channel, its components the latest last (what kept-learning.ts retains). */
  shellyOutputs(nativeId: string): ReadonlyMap<string, readonly ShellyOutput[]> | undefined {
    const outputs = this.shellyComponents.get(nativeId);
    return outputs && new Map([...outputs].filter(([channel]) => channel !== ''));
  }

  zigbee2mqttOutput(base: string): Zigbee2mqttOutput | undefined {
    return this.outputs.get(base);
  }

  zigbee2mqttJsonSeen(base: string, name: string): boolean {
    return this.jsonSeen.get(base)?.has(name) ?? false;
  }

  zigbee2mqttKeys(base: string, name: string): ReadonlySet<string> | undefined {
    return this.keys.get(deviceKey(base, name));
  }

  /** The bridge's last bridge/devices lists the device. */
  zigbee2mqttListed(base: string, name: string): boolean {
    return (this.forms.get(base)?.has(name) || this.listed.get(base)?.has(name)) ?? false;
  }

  zigbee2mqttForm(base: string, name: string, channel: string | undefined): ActuatorForm | undefined {
    const forms = this.forms.get(base)?.get(name);
    return channel === undefined ? forms?.form : forms?.endpoints?.get(channel);
  }

  zigbee2mqttModes(base: string, name: string, channel: string | undefined): readonly string[] | undefined {
    return this.forms.get(base)?.get(name)?.modes?.get(channel ?? '');
  }

  zigbee2mqttUnit(base: string, name: string, key: string): string | undefined {
    return this.units.get(base)?.get(name)?.get(key);
  }

  zigbee2mqttFloor(base: string, name: string, channel: string | undefined): HeatingFloor | undefined {
    return this.forms.get(base)?.get(name)?.floors?.get(channel ?? '');
  }
}
