/**
 * Home Assistant discovery, the state side: state and availability messages decoded against the
 * entities learnt from discovery configs (./homeassistant.ts), and the commands a discovered
 * switch, light or climate takes.
 */
import { Collector, NOT_MINE } from '../collect.js';
import { isScalar, own, parseObject, payloadText, toBool } from '../normalise.js';
import type { Extracted } from '../template.js';
import type { Availability, DecodeResult, EncodeResult, NativeCommand, Scalar } from '../types.js';
import type { AvailabilitySource, DiscoveredEntity } from './homeassistant.js';

const FAMILY = 'homeassistant';
function sameWord(a: Scalar, b: string): boolean {
  return String(a).trim().toLowerCase() === b.trim().toLowerCase();
}

/**
 * A state message decoded against the discovered entities that read its topic (one topic often
 * feeds many: Zigbee2MQTT announces one entity per key of its JSON). Availability topics give
 * availability; topics no entity reads are not this family's.
 */
export function decodeState(entities: readonly DiscoveredEntity[], topic: string, payload: Buffer): DecodeResult {
  const text = payloadText(payload);
  for (const e of entities) {
    for (const a of e.availability) {
      if (a.topic !== topic) continue;
      const r = a.extract(text);
      if (r.ok && sameWord(r.value, a.payloadAvailable)) return { outcome: 'availability', family: FAMILY, nativeId: e.nativeId, online: true, scope: 'device' };
      if (r.ok && sameWord(r.value, a.payloadNotAvailable)) return { outcome: 'availability', family: FAMILY, nativeId: e.nativeId, online: false, scope: 'device' };
    }
  }
  const readers = entities.filter((e) => e.state?.topic === topic || e.climate?.mode?.topic === topic || e.climate?.setpoint?.topic === topic || e.climate?.current?.topic === topic);
  const first = readers[0];
  if (!first) return NOT_MINE;
  const c = new Collector(FAMILY, first.nativeId);
  for (const e of readers) entityValue(c, e, topic, text);
  return c.result();
}

function entityValue(c: Collector, e: DiscoveredEntity, topic: string, text: string): void {
  const key = `${e.component}/${e.objectId}`;
  if (e.climate) {
    const state: { mode?: string; setpoint?: number } = {};
    if (e.climate.mode?.topic === topic) {
      const r = e.climate.mode.extract(text);
      if (r.ok && typeof r.value === 'string' && r.value !== '') state.mode = r.value;
      else if (!r.ok) c.problem(`${key} mode: ${r.why}`);
    }
    if (e.climate.setpoint?.topic === topic) {
      const r = e.climate.setpoint.extract(text);
      const n = r.ok ? Number(r.value) : NaN;
      if (r.ok && typeof r.value !== 'boolean' && Number.isFinite(n) && String(r.value).trim() !== '') state.setpoint = n;
      else if (!r.ok) c.problem(`${key} setpoint: ${r.why}`);
    }
    if (Object.keys(state).length > 0) c.actuator({ channel: e.objectId, state });
    if (e.climate.current?.topic === topic) {
      const r = e.climate.current.extract(text);
      if (r.ok) c.add(`${key}/current_temperature`, 'temperature', r.value, { channel: e.objectId });
      else c.problem(`${key} current temperature: ${r.why}`);
    }
    return;
  }
  if (!e.state) return;
  const r = e.jsonSchema ? jsonLightState(e.state.extract(text)) : e.state.extract(text);
  if (!r.ok) {
    // An entity that yields no reading nor state (no kind: Zigbee2MQTT's update entity, whose key
    // comes only after an OTA check) says nothing when its key is absent: not a problem per message.
    if (e.kind !== null || e.component === 'switch' || e.component === 'light') c.problem(`${key}: ${r.why}`);
    return;
  }
  if (e.component === 'binary_sensor' || e.component === 'switch' || e.component === 'light') {
    const [stateOn, stateOff] = [e.stateOn ?? e.payloadOn, e.stateOff ?? e.payloadOff];
    const on = sameWord(r.value, stateOn) ? true : sameWord(r.value, stateOff) ? false : null;
    if (on === null) {
      const names = e.stateOn !== undefined || e.stateOff !== undefined ? ['state_on', 'state_off'] : ['payload_on', 'payload_off'];
      c.problem(`${key} is ${JSON.stringify(r.value)}, neither ${names[0]} ${JSON.stringify(stateOn)} nor ${names[1]} ${JSON.stringify(stateOff)}`);
      return;
    }
    if (e.component !== 'binary_sensor') c.actuator({ channel: e.objectId, state: { state: on ? 'on' : 'off' } });
    else c.add(key, e.kind, on, { channel: e.objectId });
    return;
  }
  const scale = e.kind === 'power' && e.unit === 'kW' ? 1000 : undefined;
  if (e.kind === null) c.unmapped(key, isScalar(r.value) ? r.value : null, e.unit, e.objectId);
  else c.add(key, e.kind, r.value, { unit: e.kind === 'temperature' ? e.unit : undefined, scale, channel: e.objectId });
}

/** The `state` of a JSON-schema light's JSON (`{"state":"ON","brightness":255,…}`): ON and OFF, as payload_on/off mean by default. */
function jsonLightState(r: Extracted): Extracted {
  if (!r.ok) return r;
  const obj = typeof r.value === 'string' ? parseObject(r.value) : undefined;
  const state = obj ? own(obj, 'state') : undefined;
  return typeof state === 'string' ? { ok: true, value: state } : { ok: false, why: 'its JSON has no "state"' };
}

/** A discovered switch/light's `command_topic` with its payload_on/off (`{"state":"ON"}` for a JSON-schema light); a climate's mode and temperature command topics. */
export function encode(entity: DiscoveredEntity, command: NativeCommand): EncodeResult {
  if ('state' in command) {
    if (entity.commandTopic === undefined) return { ok: false, reason: `homeassistant:${entity.nativeId}: ${entity.component}/${entity.objectId} has no command_topic` };
    if (entity.jsonSchema) return { ok: true, publishes: [{ topic: entity.commandTopic, payload: JSON.stringify({ state: command.state.toUpperCase() }) }] };
    return { ok: true, publishes: [{ topic: entity.commandTopic, payload: command.state === 'on' ? entity.payloadOn : entity.payloadOff }] };
  }
  // A setpoint alone comes from a Zigbee2MQTT expose only (actuator-kind.ts).
  if ('attribute' in command) return { ok: false, reason: `homeassistant:${entity.nativeId}: a setpoint alone is not sent to a discovered climate` };
  const cl = entity.climate;
  if (!cl?.modeCommandTopic) return { ok: false, reason: `homeassistant:${entity.nativeId}: ${entity.component}/${entity.objectId} has no mode_command_topic` };
  const publishes = [{ topic: cl.modeCommandTopic, payload: command.mode }];
  if (command.setpoint !== undefined) {
    if (!cl.temperatureCommandTopic) return { ok: false, reason: `homeassistant:${entity.nativeId}: ${entity.objectId} has no temperature_command_topic` };
    publishes.push({ topic: cl.temperatureCommandTopic, payload: String(command.setpoint) });
  }
  return { ok: true, publishes };
}

/** Whether an extracted availability value means online, for callers holding a single source. */
export function isAvailable(a: AvailabilitySource, text: string): boolean | null {
  const r = a.extract(text);
  if (!r.ok) return null;
  if (sameWord(r.value, a.payloadAvailable)) return true;
  if (sameWord(r.value, a.payloadNotAvailable)) return false;
  return toBool(r.value);
}

/**
 * Every device whose entities name this availability topic, with what the message says of it: one
 * topic is often shared by many (Zigbee2MQTT's `bridge/state` for all its entities, a node's
 * status for each of its sensors), so availability is per topic, not per entity.
 */
export function availabilityOf(entities: readonly DiscoveredEntity[], topic: string, payload: Buffer): Availability[] {
  const text = payloadText(payload);
  const out = new Map<string, Availability>();
  for (const e of entities) {
    if (out.has(e.nativeId)) continue;
    for (const a of e.availability) {
      if (a.topic !== topic) continue;
      const online = isAvailable(a, text);
      if (online !== null) out.set(e.nativeId, { outcome: 'availability', family: FAMILY, nativeId: e.nativeId, online, scope: 'device' });
      break;
    }
  }
  return [...out.values()];
}
