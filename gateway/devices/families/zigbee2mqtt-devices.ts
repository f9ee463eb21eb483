/**
 * Zigbee2MQTT's `<base>/bridge/devices` (retained; Koenkk/zigbee2mqtt lib/extension/bridge.ts
 * publishDevices, republished when a device joins, leaves or is renamed): a JSON array with one
 * entry per device, `friendly_name` and `definition` (null, or absent for the coordinator, when
 * there is none) whose `exposes` say what the device can do (docs: guide/usage/exposes.md). Read
 * here for what a device takes: a mode, or only on and off (and which modes), before it has
 * reported anything. A `climate` expose: a thermostat (a TuYa TRV's other `switch` exposes are
 * settings such as `window_detection`, not its on/off); else a `switch` or `light` expose with a
 * binary `state` feature: a plug, a relay, a bulb. Per endpoint too: a feature of endpoint `l2`
 * has the property `state_l2`, the channel an actuator entry names. A climate's `system_mode`
 * `values` are the modes it takes (a heat-only TRV: `["off","heat"]`), and its heating setpoint's
 * `value_min` the lowest it can be turned down to (a Danfoss Ally, which takes only `heat`:
 * `occupied_heating_setpoint` from 5, what it is sent for off). And who each device is: its
 * `ieee_address`, which a rename in Zigbee2MQTT keeps (rename.ts follows it). And the unit of each
 * numeric key it reports (a battery's `voltage` in mV, a plug's in V: zigbee-herdsman-converters
 * exposes.ts `battery_voltage`, `voltage`).
 */
import { isObject, own, type Json, type JsonObject } from '../normalise.js';
import type { ActuatorForm, HeatingFloor, Zigbee2mqttForms } from '../types.js';

/** Each device that is a thermostat or a switch (as a whole or on an endpoint), by friendly name; or why none could be read. */
export function formsOf(list: Json): Map<string, Zigbee2mqttForms> | string {
  if (!Array.isArray(list)) return 'bridge/devices is not a JSON array';
  const out = new Map<string, Zigbee2mqttForms>();
  for (const d of list) {
    if (!isObject(d)) continue;
    const name = own(d, 'friendly_name');
    const definition = own(d, 'definition');
    const exposes = isObject(definition) ? own(definition, 'exposes') : undefined;
    if (typeof name !== 'string' || name === '' || !Array.isArray(exposes)) continue;
    const forms = formsOfExposes(exposes);
    if (forms) out.set(name, forms);
  }
  return out;
}

/** Each device's `ieee_address`, by friendly name (the coordinator's too: harmless). */
export function addressesOf(list: Json): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(list)) return out;
  for (const d of list) {
    const name = isObject(d) ? own(d, 'friendly_name') : undefined;
    const ieee = isObject(d) ? own(d, 'ieee_address') : undefined;
    if (typeof name === 'string' && name !== '' && typeof ieee === 'string' && ieee !== '') out.set(name, ieee);
  }
  return out;
}

/** Each device's numeric keys with a unit (`voltage` → `mV`), by friendly name; devices with none are left out. */
export function unitsOf(list: Json): Map<string, ReadonlyMap<string, string>> {
  const out = new Map<string, ReadonlyMap<string, string>>();
  if (!Array.isArray(list)) return out;
  for (const d of list) {
    const name = isObject(d) ? own(d, 'friendly_name') : undefined;
    const definition = isObject(d) ? own(d, 'definition') : undefined;
    const exposes = isObject(definition) ? own(definition, 'exposes') : undefined;
    if (typeof name !== 'string' || name === '' || !Array.isArray(exposes)) continue;
    const units = new Map<string, string>();
    numericUnits(exposes, units, 0);
    if (units.size > 0) out.set(name, units);
  }
  return out;
}

/** Numeric exposes' `property` → `unit`, also inside composite and specific exposes' `features` (a climate's, a `switch`'s). */
function numericUnits(exposes: readonly Json[], into: Map<string, string>, depth: number): void {
  for (const e of exposes) {
    if (!isObject(e)) continue;
    const [type, property, unit, features] = [own(e, 'type'), own(e, 'property'), own(e, 'unit'), own(e, 'features')];
    if (type === 'numeric' && typeof property === 'string' && property !== '' && typeof unit === 'string' && unit !== '' && !into.has(property)) into.set(property, unit);
    // A composite's features are its object's keys, not the device's: read only the top level's and a specific expose's own (a climate's local_temperature).
    if (Array.isArray(features) && type !== 'composite' && depth < 2) numericUnits(features, into, depth + 1);
  }
}

function formsOfExposes(exposes: readonly Json[]): Zigbee2mqttForms | undefined {
  let form: ActuatorForm | undefined;
  const endpoints = new Map<string, ActuatorForm>();
  const modes = new Map<string, readonly string[]>();
  const floors = new Map<string, HeatingFloor>();
  // A thermostat wins over a switch: a device or endpoint that takes a mode is never only switched.
  const found = (f: ActuatorForm, endpoint: string | undefined): void => {
    if (form !== 'thermostat') form = f;
    if (endpoint !== undefined && endpoints.get(endpoint) !== 'thermostat') endpoints.set(endpoint, f);
  };
  for (const e of exposes) {
    if (!isObject(e)) continue;
    const type = own(e, 'type');
    if (type === 'climate') {
      const endpoint = own(e, 'endpoint');
      found('thermostat', typeof endpoint === 'string' && endpoint !== '' ? endpoint : undefined);
      const values = systemModes(e);
      // The device as a whole takes what its (first) climate takes, as its form is that climate's.
      if (values && typeof endpoint === 'string' && endpoint !== '') modes.set(endpoint, values);
      if (values && !modes.has('')) modes.set('', values);
      const floor = heatingFloor(e);
      if (floor && typeof endpoint === 'string' && endpoint !== '') floors.set(endpoint, floor);
      if (floor && !floors.has('')) floors.set('', floor);
    } else if (type === 'switch' || type === 'light') {
      for (const property of onOffProperties(e)) found('switch', property === 'state' ? undefined : property.slice('state_'.length));
    }
  }
  if (form === undefined) return undefined;
  return { form, ...(endpoints.size > 0 ? { endpoints } : {}), ...(modes.size > 0 ? { modes } : {}), ...(floors.size > 0 ? { floors } : {}) };
}

/** The `values` of a climate expose's `system_mode` enum (`["off","heat"]` for a heat-only TRV): the modes it takes. */
function systemModes(climate: JsonObject): string[] | undefined {
  const features = own(climate, 'features');
  if (!Array.isArray(features)) return undefined;
  for (const f of features) {
    if (!isObject(f) || own(f, 'name') !== 'system_mode' || own(f, 'type') !== 'enum') continue;
    const values = own(f, 'values');
    if (Array.isArray(values) && values.length > 0 && values.every((v) => typeof v === 'string')) return values;
  }
  return undefined;
}

/** Heating setpoints a climate expose may have (exposes.ts `withSetpoint`), the one a valve is set by first. */
const HEATING_SETPOINTS = ['occupied_heating_setpoint', 'current_heating_setpoint'];

/** A climate expose's settable heating setpoint with its `value_min`: its `property` (`…_<endpoint>` on an endpoint) and that minimum. */
function heatingFloor(climate: JsonObject): HeatingFloor | undefined {
  const features = own(climate, 'features');
  if (!Array.isArray(features)) return undefined;
  for (const name of HEATING_SETPOINTS) {
    const f = features.find((x) => isObject(x) && own(x, 'name') === name && own(x, 'type') === 'numeric');
    if (!isObject(f)) continue;
    const [property, min, access] = [own(f, 'property'), own(f, 'value_min'), own(f, 'access')];
    // access: a bit mask whose 2 is "can be set" (exposes.ts `access.SET`).
    const settable = typeof access !== 'number' || (access & 2) !== 0;
    if (typeof property === 'string' && property !== '' && typeof min === 'number' && Number.isFinite(min) && settable) return { attribute: property, value: min };
  }
  return undefined;
}

/** The on/off of a switch or light expose: its binary `state` feature's property, `state` or `state_<endpoint>`. */
function onOffProperties(expose: JsonObject): string[] {
  const features = own(expose, 'features');
  if (!Array.isArray(features)) return [];
  const out: string[] = [];
  for (const f of features) {
    if (!isObject(f) || own(f, 'type') !== 'binary' || own(f, 'name') !== 'state') continue;
    const property = own(f, 'property');
    if (property === 'state' || (typeof property === 'string' && /^state_./.test(property))) out.push(property);
  }
  return out;
}
