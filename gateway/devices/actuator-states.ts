/**
 * What each mapped native actuator last reported (merged: an ESPHome climate reports its mode and
 * setpoint on separate topics), kept by the device and channel that reported it, not by the
 * actuator entry naming them: what a device is (a switch once it reported on/off, actuator-form.ts)
 * follows the device when the map moves its entry to another zone or renames it.
 */
import type { NativeActuator } from './map.js';
import { reportChannel } from './placement.js';
import type { ActuatorState, Family } from './types.js';

type Reporter = Pick<NativeActuator, 'family' | 'nativeId' | 'channel'>;

const keyOf = (a: Reporter): string => `${a.family}\u0000${a.nativeId}\u0000${reportChannel(a)}`;

export class ActuatorStates {
  private readonly states = new Map<string, ActuatorState>();

  get(a: Reporter): ActuatorState | undefined {
    return this.states.get(keyOf(a));
  }

  has(a: Reporter): boolean {
    return this.states.has(keyOf(a));
  }

  set(a: Reporter, state: ActuatorState): void {
    this.states.set(keyOf(a), state);
  }

  /** A new map: the devices no actuator entry names any more are forgotten (so this holds what the map names, at most). */
  keepOnly(actuators: Iterable<Reporter>): void {
    const named = new Set([...actuators].map(keyOf));
    for (const key of this.states.keys()) if (!named.has(key)) this.states.delete(key);
  }

  /** A device renamed (Zigbee2MQTT): what it reported is its new name's. */
  rename(family: Family, from: string, to: string): void {
    const prefix = `${family}\u0000${from}\u0000`;
    for (const [key, state] of [...this.states]) {
      if (!key.startsWith(prefix)) continue;
      this.states.delete(key);
      this.states.set(`${family}\u0000${to}\u0000${key.slice(prefix.length)}`, state);
    }
  }
}
