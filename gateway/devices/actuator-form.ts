/**
 * What a native actuator can be asked, in its own terms. The rules command HVAC by mode and
 * setpoint; a thermostat takes them, but a relay or smart plug driving a window air conditioner or
 * a heater can only be switched: on for any mode but off. Which one a device is, the map says
 * (`as: switch | thermostat`), else the device: a Tasmota or Shelly relay is always a switch, a
 * Home Assistant entity by its discovered component, a Zigbee2MQTT device by the exposes its
 * bridge lists in `bridge/devices` (`climate`: a thermostat; `switch`, `light`: a switch), and
 * an ESPHome node by its own discovery config, and one without or a Zigbee2MQTT device the bridge has not listed by what it reports (a
 * switch's on/off with no mode ever: a switch; a mode or setpoint: a thermostat). Before any of
 * them says, a thermostat, as before the map had `as:`.
 */
import type { CommandData } from '../core/events.js';
import type { DiscoveredEntity } from './families/homeassistant.js';
import { acceptedMode, switchState, type ActuatorKind } from './actuator-kind.js';
export type { ActuatorKind } from './actuator-kind.js';
import type { ActuatorForm, NativeActuator } from './map.js';
import { isEsphomeLightOrFan, type ActuatorState, type NativeCommand } from './types.js';

/** Home Assistant components that take a command, and which of them are only switched on and off. */
const COMMANDABLE = new Set(['switch', 'light', 'climate', 'fan']);
const ON_OFF = new Set(['switch', 'light', 'fan']);

/** What the device has told about itself so far. */
export interface FormEvidence {
  /** Its reports, merged (router.ts `reported`). */
  readonly reported?: ActuatorState | undefined;
  /** Home Assistant: the discovered entity the entry names, or why none. */
  readonly entity?: DiscoveredEntity | string | undefined;
  /** Zigbee2MQTT: what the bridge's `bridge/devices` says the device (or the entry's endpoint) is. */
  readonly exposed?: ActuatorForm | undefined;
}

export function formOf(a: NativeActuator, told: FormEvidence): ActuatorForm {
  if (a.as) return a.as;
  switch (a.family) {
    case 'tasmota':
    case 'shelly':
      return 'switch';
    case 'homeassistant':
      return typeof told.entity === 'object' && ON_OFF.has(told.entity.component) ? 'switch' : 'thermostat';
    case 'esphome':
    case 'zigbee2mqtt': {
      if (a.family === 'esphome' && isEsphomeLightOrFan(a.channel)) return 'switch';
      const r = told.reported;
      // A thermostat reports its mode (Zigbee2MQTT's system_mode beside any state; ESPHome's climate/<id>/mode).
      const reportsMode = r?.mode !== undefined || r?.setpoint !== undefined;
      // What an ESPHome node reported itself wins over any discovery config (anyone's may name its topics).
      if (a.family === 'esphome' && (reportsMode || r?.state !== undefined)) return reportsMode ? 'thermostat' : 'switch';
      // An ESPHome node's own discovery config (`discovery: true`, its default) says it before it reports.
      if (typeof told.entity === 'object') return told.entity.component === 'climate' ? 'thermostat' : 'switch';
      // What the device is, said by its bridge from its definition, even before it has reported.
      if (told.exposed !== undefined) return told.exposed;
      if (reportsMode) return 'thermostat';
      return r?.state !== undefined ? 'switch' : 'thermostat';
    }
    case 'generic':
      return 'thermostat';
  }
}

/** The discovered entity an actuator entry names: its `channel` is the object id, or the device's only switch, light, climate or fan. */
export function entityOf(entities: Iterable<DiscoveredEntity>, a: NativeActuator): DiscoveredEntity | string {
  const own = [...entities].filter((e) => e.nativeId === a.nativeId && COMMANDABLE.has(e.component));
  const chosen = a.channel === undefined ? (own.length === 1 ? own[0] : undefined) : own.find((e) => e.objectId === a.channel);
  if (chosen) return chosen;
  if (own.length === 0) return `homeassistant:${a.nativeId}: no discovery config for a switch, light or climate of this device has been seen yet`;
  return `homeassistant:${a.nativeId}: ${a.channel === undefined ? `has ${own.length} commandable entities (${own.map((e) => e.objectId).join(', ')}): set channel: to one` : `has no entity ${a.channel}`}`;
}

/**
 * The discovery config an ESPHome node published for the entry's channel: its switch's command
 * topic (`<node>/switch/<id>/command`) or its climate's (`<node>/climate/<id>/mode/command`).
 */
export function esphomeEntityOf(entities: Iterable<DiscoveredEntity>, a: NativeActuator): DiscoveredEntity | string {
  // The component and the topic must agree: a climate config naming a switch's command topic is not that switch's.
  const channel = a.channel ?? '';
  for (const e of entities) {
    if (e.component === 'switch' && e.commandTopic === `${a.nativeId}/switch/${channel}/command`) return e;
    if (e.component === 'climate' && e.climate?.modeCommandTopic === `${a.nativeId}/climate/${channel}/mode/command`) return e;
  }
  return `esphome:${a.nativeId}: no discovery config for ${a.channel ?? '(no channel)'} seen yet`;
}

/**
 * A rule's command data as a native command: on/off, or a mode with its setpoint. A switch: off
 * for off, on for its appliance's mode (any mode but off when the map does not say what it drives);
 * a thermostat listing its modes: off for one it cannot do, or its lowest heating setpoint when it
 * cannot be switched off (actuator-kind.ts).
 */
export function nativeCommandOf(data: Readonly<Record<string, unknown>>, kind: ActuatorForm | ActuatorKind): NativeCommand | string {
  const { form, drives, modes, floor } = typeof kind === 'string' ? ({ form: kind } as ActuatorKind) : kind;
  const { state, mode, setpoint } = data;
  if (setpoint !== undefined && (typeof setpoint !== 'number' || !Number.isFinite(setpoint))) return `setpoint ${JSON.stringify(setpoint)} is not a number`;
  if (state === 'on' || state === 'off') return { state };
  if (typeof mode === 'string' && mode !== '') {
    if (form === 'switch') return { state: switchState(mode, drives) };
    const sent = acceptedMode(mode, modes, floor);
    if (typeof sent === 'string') return sent;
    if ('floor' in sent) return { attribute: sent.floor.attribute, setpoint: sent.floor.value };
    // An off in place of a mode it cannot do carries no setpoint: there is nothing to hold.
    return setpoint === undefined || sent.fallback ? { mode: sent.mode } : { mode, setpoint: setpoint };
  }
  return `${JSON.stringify(data)} has neither state on/off nor a mode`;
}

/**
 * What a native actuator reports once it has carried out command `data`: what it was asked, in the
 * terms its reports come in (decoders turn them into `{state}`, `{mode, setpoint}`). A switch given
 * a mode reports on or off, a switch given a brightness only on, a heat-only valve told to cool
 * reports off, one turned down to its lowest setpoint reports that setpoint (in whatever mode:
 * heat, the only one it has); a command with no native form is expected as it is.
 */
export function expectedReport(data: CommandData, kind: ActuatorForm | ActuatorKind): CommandData {
  const command = nativeCommandOf(data, kind);
  if (typeof command === 'string') return data;
  return 'attribute' in command ? { setpoint: command.setpoint } : command;
}
