/**
 * What a mode command becomes beyond the actuator's form (actuator-form.ts), where switching on
 * for "any mode but off" would do the wrong thing to real equipment:
 *
 * - a switch that drives one appliance (`as: heater`, `as: cooler` in the map) is on only for
 *   the mode that appliance does: a heater for `heat`; a cooler (a window air conditioner) for
 *   `cool` and `dry` (it dries by cooling). Every other mode is off: `auto`, `fan_only` or `fan`
 *   would switch the whole appliance on in whatever mode its own panel holds, heating or cooling
 *   unasked, and a plug cannot choose;
 * - a thermostat whose device says the modes it accepts (Zigbee2MQTT's `system_mode` values, Home
 *   Assistant's or ESPHome's discovery `modes`) is sent `off` for a mode it cannot do, if it
 *   accepts off (a heat-only radiator valve asked to cool: off is what cooling asks of it), with
 *   no setpoint; one that does not accept off either (a Danfoss Ally: heat only) is turned down
 *   instead, its heating setpoint alone at the minimum its device gives (Zigbee2MQTT's
 *   `value_min`: frost protection, as Home Assistant and Zigbee2MQTT users do), and reports
 *   heat at that setpoint, which confirms it; without a known minimum, nothing (the command is
 *   refused: GW_ERR_NATIVE_COMMAND).
 *
 * A switch without `as: heater|cooler` is on for any mode but off, as before; as a zone's `hvac`
 * that is a heater switched on to cool a hot room, hence {@link hvacSwitchHint}.
 */
import { isEsphomeLightOrFan, type ActuatorForm, type Family, type HeatingFloor } from './types.js';

/** What a switch drives, said in the map (`as: heater`, `as: cooler`). */
export type SwitchDrives = 'heater' | 'cooler';

/** How a mapped actuator takes a mode command: its form, what a switch drives, the modes its device says it accepts. */
export interface ActuatorKind {
  readonly form: ActuatorForm;
  readonly drives?: SwitchDrives | undefined;
  /** The modes the device accepts, when its exposes or discovery config list them. */
  readonly modes?: readonly string[] | undefined;
  /** Its heating setpoint's attribute and lowest value, when its device says (a Zigbee2MQTT climate expose). */
  readonly floor?: HeatingFloor | undefined;
}

/** A switch's on/off for a mode: off for off; a heater on for heat, a cooler for cool and dry; any other switch on. */
export function switchState(mode: string, drives: SwitchDrives | undefined): 'on' | 'off' {
  if (mode === 'off') return 'off';
  if (drives === 'heater') return mode === 'heat' ? 'on' : 'off';
  if (drives === 'cooler') return mode === 'cool' || mode === 'dry' ? 'on' : 'off';
  return 'on';
}

/**
 * The mode a thermostat is sent: the mode, else off when the device lists its modes without this
 * one but with off, else its heating setpoint at its lowest (`floor`) when known; else why none.
 */
export function acceptedMode(mode: string, modes: readonly string[] | undefined, floor?: HeatingFloor): { mode: string; fallback: boolean } | { floor: HeatingFloor } | string {
  if (modes === undefined || modes.length === 0 || modes.includes(mode)) return { mode, fallback: false };
  if (modes.includes('off')) return { mode: 'off', fallback: true };
  if (floor) return { floor };
  return `mode ${JSON.stringify(mode)} is not one it accepts (${modes.join(', ')}), nor is off, and it gives no lowest heating setpoint`;
}

const AS = ['switch', 'thermostat', 'heater', 'cooler'] as const;
const q = JSON.stringify;

/** The map's `as:`, or undefined with a problem pushed. `relayOnly`: a Tasmota or Shelly relay, an ESPHome light or fan. */
export function parseAs(v: unknown, family: Family, relayOnly: boolean, hasSetpoint: boolean, at: string, problems: string[]): { as: ActuatorForm; drives?: SwitchDrives } | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(AS as readonly string[]).includes(v)) {
    problems.push(`${at}: must be switch (a relay or plug: on/off only), heater or cooler (a switch on only for heat, or only for cool) or thermostat (takes a mode and setpoint) (got ${q(v)})`);
    return undefined;
  }
  if (v === 'thermostat' && relayOnly) problems.push(`${at}: ${family === 'esphome' ? 'an ESPHome light or fan' : `a ${family} relay`} is switched on and off, never a thermostat`);
  if (v !== 'thermostat' && hasSetpoint) problems.push(`${at}: ${v === 'switch' ? 'a switch' : `a ${v} on a switch`} has no setpoint (remove setpoint:)`);
  return v === 'heater' || v === 'cooler' ? { as: 'switch', drives: v } : { as: v as ActuatorForm };
}

/** Why a zone's `hvac` that is a plain switch needs `as: heater|cooler`; undefined when it does not. */
export function hvacSwitchHint(a: { readonly actuator: string }, form: ActuatorForm, drives: SwitchDrives | undefined): string | undefined {
  if (a.actuator !== 'hvac' || form !== 'switch' || drives !== undefined) return undefined;
  return 'a plain switch as the zone’s hvac is switched on for every mode but off (a heater on it would be switched on to cool): say what it drives with as: heater or as: cooler';
}

/** Whether the map alone makes the actuator a switch (`as: switch`, a Tasmota or Shelly relay, an ESPHome light or fan), before any device speaks. */
export function switchByMap(a: { readonly family: Family; readonly channel?: string | undefined; readonly as?: ActuatorForm | undefined }): boolean {
  if (a.as !== undefined) return a.as === 'switch';
  return a.family === 'tasmota' || a.family === 'shelly' || (a.family === 'esphome' && isEsphomeLightOrFan(a.channel));
}
