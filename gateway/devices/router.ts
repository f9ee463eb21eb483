/**
 * What ingest asks of the native layer: a topic that is not one of the contract's, and its
 * payload, made into what the gateway stores. The family comes from the credential (a bridge or a
 * native device), else from the map (the first family whose decoder names a device the map
 * places), else from the decoders' order (the device then waits for a zone); a topic's family is
 * remembered until the map or the discovered entities change.
 */
import { BoundedMap } from '../core/bounded-map.js';
import { Discovery } from './discovery.js';
import { DiscoveryIntake } from './discovery-intake.js';
import { availabilityOf } from './families/homeassistant-state.js';
import { parseConfigTopic } from './families/homeassistant.js';
import { decode, type Context } from './index.js';
import { LearntFacts } from './learnt.js';
import { MAX_BRIDGE_DEVICES_BYTES } from './normalise.js';
import { entityOf, esphomeEntityOf, formOf, type ActuatorKind } from './actuator-form.js';
import type { ActuatorForm, DeviceMap, NativeActuator } from './map.js';
import type { OnEvicted } from '../observability/evictions.js';
import { ActuatorStates } from './actuator-states.js';
import { Placements } from './placement.js';
import type { PowerCutWatch } from './power-cut.js';
import { DeviceRegistry, type RegistryOptions } from './registry.js';
import { decodePlaced, type NativeOutcome } from './outcome.js';
import type { ActuatorState, Availability, DecodeResult, Family, NativeHint, ShellyRpcError, Zigbee2mqttRename } from './types.js';
export type { NativeHint };
export type { NativeOutcome, PlacedReading, PlacedStatus, PlacedActuator } from './outcome.js';

export interface RouterOptions {
  readonly zigbee2mqttBaseTopic: string;
  readonly discoveryPrefix: string;
  /** Told of each learnt fact or device forgotten to stay within its bound; `cut`: of each text the registry cuts (registry-bounds.ts). */
  readonly evicted?: OnEvicted;
  /** Told of each discovery config refused to bound memory (discovery-intake.ts). */
  readonly refused?: OnEvicted;
  /** The discovered entities' bounds (discovery.ts: MAX_ENTITIES, MAX_ENTITY_BYTES). */
  readonly discoveryBounds?: Discovery['bounds'];
  readonly cut?: RegistryOptions['cut'];
  /** Told of each Zigbee2MQTT device renamed, before its next message is routed (rename.ts). */
  readonly renamed?: (r: Zigbee2mqttRename) => void;
  /** After a power cut of the gateway's host: an actuator's first news is its device coming back (power-cut.ts). */
  readonly powerCut?: PowerCutWatch;
  /** Told of each RPC error a Shelly Gen2+ answered (commands.ts says it in the log). */
  readonly rpcError?: (e: ShellyRpcError) => void;
}

type Step = Exclude<Family, 'homeassistant'> | 'discovered';
const ORDER: readonly Step[] = ['zigbee2mqtt', 'tasmota', 'esphome', 'shelly', 'discovered', 'generic'];

export class NativeRouter {
  readonly registry: DeviceRegistry;
  readonly discovery: Discovery;
  private readonly intake: DiscoveryIntake;
  /** A device's mode, a bridge's output: what messages taught beyond their values. */
  readonly learnt: LearntFacts;
  private placements: Placements;
  private ctx: Context;
  private ctxVersion = -1;
  /** The context with a credential's own device or a bridge's base, made once per context, not per message. */
  private readonly derived = new Map<string, Context>();
  /** By actuator (a new map makes new ones), for the discovery version in `entitiesVersion`. */
  private entities = new WeakMap<NativeActuator, ReturnType<typeof entityOf>>();
  private entitiesVersion = -1;
  private readonly topicStep = new BoundedMap<string, Step>(100_000);
  /** The last state each mapped actuator's device reported, merged (actuator-states.ts). */
  readonly actuatorStates = new ActuatorStates();

  constructor(private readonly o: RouterOptions, map: DeviceMap) {
    this.registry = new DeviceRegistry(undefined, { evicted: o.evicted, cut: o.cut });
    this.learnt = new LearntFacts(o.evicted, o.renamed);
    this.discovery = new Discovery(o.discoveryBounds);
    const changed = (): void => this.topicStep.clear();
    this.intake = new DiscoveryIntake({ discovery: this.discovery, registry: this.registry, discoveryPrefix: o.discoveryPrefix, tasmota: () => this.map.tasmota, changed, refused: o.refused });
    this.registry.listedUnder = (base, name) => this.learnt.zigbee2mqttListed(base, name);
    this.placements = new Placements(map);
    this.ctx = this.context();
  }

  get map(): DeviceMap {
    return this.placements.map;
  }

  get placement(): Placements {
    return this.placements;
  }

  use(map: DeviceMap): void {
    // What a device reported stays its own, whichever entry names it now (an entry moved or renamed).
    this.actuatorStates.keepOnly(map.actuators.values());
    this.placements = new Placements(map);
    this.topicStep.clear();
    this.ctxVersion = -1;
  }

  /** What a mapped actuator last reported (merged), if it has. */
  reported(target: string): ActuatorState | undefined {
    const a = this.actuator(target);
    return a && this.actuatorStates.get(a);
  }

  /** The native device and options a mapped actuator is commanded through. */
  actuator(target: string): NativeActuator | undefined {
    return this.placements.map.actuators.get(target);
  }

  /** Whether a mapped actuator is a switch or a thermostat: the map says, else what the device told (actuator-form.ts). */
  form(a: NativeActuator): ActuatorForm {
    if (a.as) return a.as;
    const entity = a.family === 'homeassistant' || a.family === 'esphome' ? this.entityFor(a) : undefined;
    // The bridge commands go to (commands.ts): the configured base.
    return formOf(a, { reported: this.actuatorStates.get(a), entity, exposed: a.family === 'zigbee2mqtt' ? this.learnt.zigbee2mqttForm(this.o.zigbee2mqttBaseTopic, a.nativeId, a.channel) : undefined });
  }

  /** How a mapped actuator takes a mode (actuator-kind.ts): its form, what the map says a switch drives, the modes its device lists, its lowest heating setpoint. */
  kind(a: NativeActuator): ActuatorKind {
    const [form, base] = [this.form(a), this.o.zigbee2mqttBaseTopic];
    if (a.family === 'zigbee2mqtt') return { form, drives: a.drives, modes: this.learnt.zigbee2mqttModes(base, a.nativeId, a.channel), floor: this.learnt.zigbee2mqttFloor(base, a.nativeId, a.channel) };
    const entity = a.family === 'homeassistant' || a.family === 'esphome' ? this.entityFor(a) : undefined;
    return { form, drives: a.drives, modes: typeof entity === 'object' ? entity.climate?.modes : undefined };
  }

  /** The largest payload read on this topic, where not MAX_PAYLOAD_BYTES: a Zigbee2MQTT bridge/devices (normalise.ts), of the configured base or the publishing bridge credential's. */
  payloadLimit(topic: string, hint: NativeHint | undefined): number | undefined {
    const end = topic.endsWith('/bridge/devices') ? '/bridge/devices' : topic.endsWith('/bridge/info') ? '/bridge/info' : undefined;
    if (end === undefined) return undefined;
    const base = topic.slice(0, -end.length);
    return base === this.o.zigbee2mqttBaseTopic || (hint?.family === 'zigbee2mqtt' && base === hint.base) ? MAX_BRIDGE_DEVICES_BYTES : undefined;
  }

  /** A Home Assistant actuator's entity, found once per discovery change, not on each of its reports. */
  private entityFor(a: NativeActuator): ReturnType<typeof entityOf> {
    if (this.entitiesVersion !== this.discovery.version) {
      this.entities = new WeakMap();
      this.entitiesVersion = this.discovery.version;
    }
    let e = this.entities.get(a);
    if (e === undefined) this.entities.set(a, (e = (a.family === 'esphome' ? esphomeEntityOf : entityOf)(this.discovery.entities(), a)));
    return e;
  }

  /**
   * One native message. `redrive`: a kept dead letter fed again: only its readings count (no
   * registry, availability or actuator state: those were news when it arrived, not now).
   */
  route(topic: string, payload: Buffer, now: number, hint?: NativeHint, redrive = false): NativeOutcome {
    const prefix = this.o.discoveryPrefix;
    if (topic.startsWith(`${prefix}/`)) {
      if (topic === `${prefix}/status`) return { outcome: 'recognised', family: 'homeassistant', what: 'Home Assistant status (birth / last will)' };
      if (parseConfigTopic(topic, prefix)) return redrive ? { outcome: 'recognised', family: 'homeassistant', what: 'discovery config' } : this.intake.learn(topic, payload, now, hint);
    }
    if (this.ctxVersion !== this.discovery.version) this.ctx = this.context();
    const cached = this.topicStep.get(topic);
    if (cached !== undefined) {
      const r = this.step(cached, topic, payload, hint);
      if (r !== undefined) return this.finish(r, topic, payload, now, redrive);
      this.topicStep.delete(topic);
    }
    let first: { r: DecodeResult | Availability[]; step: Step } | undefined;
    for (const step of this.order(hint)) {
      const r = this.step(step, topic, payload, hint);
      if (r === undefined) continue;
      if (this.final(r)) {
        this.topicStep.set(topic, step);
        return this.finish(r, topic, payload, now, redrive);
      }
      first ??= { r, step };
    }
    if (!first) return { outcome: 'not_mine' };
    this.topicStep.set(topic, first.step);
    return this.finish(first.r, topic, payload, now, redrive);
  }

  private order(hint: NativeHint | undefined): readonly Step[] {
    const f = hint?.family;
    if (f === undefined || f === 'homeassistant') return ORDER;
    return [f, ...ORDER.filter((s) => s !== f)];
  }

  /** A decoder's answer, undefined when not its topic; several availabilities for a shared discovery topic. */
  private step(step: Step, topic: string, payload: Buffer, hint: NativeHint | undefined): DecodeResult | Availability[] | undefined {
    let r: DecodeResult;
    if (step === 'discovered') {
      const readers = this.discovery.readers(topic);
      if (readers.length === 0) return undefined;
      const avail = availabilityOf(readers, topic, payload);
      if (avail.length > 0) return avail;
      r = decode('homeassistant', topic, payload, { discovered: readers });
    } else if (step === 'zigbee2mqtt' && hint?.family === 'zigbee2mqtt' && hint.base !== undefined) {
      r = decode(step, topic, payload, this.derive(`base\u0000${hint.base}`, { zigbee2mqttBaseTopic: hint.base }));
    } else if (hint?.nativeId !== undefined && hint.family === step) {
      r = decode(step, topic, payload, this.derive(`speaks\u0000${hint.nativeId}`, { speaksFor: hint.nativeId }));
    } else {
      r = decode(step, topic, payload, this.ctx);
    }
    return r.outcome === 'not_mine' ? undefined : r;
  }

  /** Whether this answer settles the family: not a device the map could place elsewhere. */
  private final(r: DecodeResult | Availability[]): boolean {
    if (Array.isArray(r)) return r.some((a) => this.placements.placementsOf(a.family, a.nativeId) !== undefined);
    if (r.outcome === 'decoded' || r.outcome === 'availability') return (r.outcome === 'availability' && r.scope === 'bridge') || this.placements.placementsOf(r.family, r.nativeId) !== undefined;
    return true;
  }

  protected finish(r: DecodeResult | Availability[], topic: string, payload: Buffer, now: number, redrive: boolean): NativeOutcome {
    // Only the answer taken teaches (another family's guess at the topic does not), and not a redrive: that is news from before.
    if (!redrive && !Array.isArray(r) && r.outcome !== 'not_mine' && r.learnt) this.learnt.apply(r.learnt);
    if (!redrive && !Array.isArray(r) && r.outcome === 'recognised' && r.rpcError) this.o.rpcError?.(r.rpcError);
    return decodePlaced(r, { topic, payload, now, redrive, placements: this.placements, registry: this.registry, actuatorStates: this.actuatorStates, learnt: this.learnt, powerCut: this.o.powerCut });
  }

  /**
   * A retained message restored at start (broker's snapshot or Redis): what it teaches (discovery
   * configs, a Zigbee2MQTT bridge's devices and output), without news: no reading, status or last seen
   * (`factsOnly`: nor availability, read later, relearn.ts).
   */
  relearn(topic: string, payload: Buffer, now: number, hint?: NativeHint, factsOnly = false): boolean {
    if (parseConfigTopic(topic, this.o.discoveryPrefix)) return !factsOnly && this.intake.learn(topic, payload, now, hint, true).outcome === 'recognised';
    if (this.ctxVersion !== this.discovery.version) this.ctx = this.context();
    for (const step of this.order(hint)) {
      const r = this.step(step, topic, payload, hint);
      // A retained `online` of the bridge is not news of its restart: what was learnt since stays.
      const facts = r && !Array.isArray(r) && r.outcome !== 'not_mine' ? r.learnt?.filter((f) => f.what !== 'zigbee2mqttBridgeOnline') : undefined;
      if (facts?.length) this.learnt.apply(facts);
      // A retained availability: its last word, over the stored history's; not news. Its topic may teach (a Tasmota's LWT: its FullTopic).
      if (r && !Array.isArray(r) && r.outcome === 'availability') return factsOnly ? Boolean(facts?.length) : this.registry.retained(r);
      if (facts?.length) return true;
    }
    return false;
  }

  /** One per credential (or bridge base) in use: few; started afresh with each new context. */
  private derive(key: string, extra: Partial<Context>): Context {
    let c = this.derived.get(key);
    if (!c) {
      if (this.derived.size >= 10_000) this.derived.clear();
      this.derived.set(key, (c = { ...this.ctx, ...extra }));
    }
    return c;
  }

  private context(): Context {
    const map = this.placements.map;
    this.ctxVersion = this.discovery.version;
    this.derived.clear();
    const fahrenheit = [...map.devices.values()].filter((d) => d.family === 'shelly' && d.fahrenheit).map((d) => d.nativeId);
    return {
      zigbee2mqttBaseTopic: this.o.zigbee2mqttBaseTopic,
      discoveryPrefix: this.o.discoveryPrefix,
      ...(map.tasmota ? { tasmota: map.tasmota } : {}),
      ...(fahrenheit.length > 0 ? { shellyFahrenheit: fahrenheit } : {}),
      esphomeKinds: this.discovery.esphomeKinds(),
      esphomeUnits: this.discovery.esphomeUnits(),
      mappings: map.mappings,
      learnt: this.learnt,
    };
  }
}
