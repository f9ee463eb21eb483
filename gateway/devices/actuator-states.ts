/**
 * What each mapped native actuator last reported (merged: an ESPHome climate reports its mode and
 * setpoint on separate topics), kept by the device and channel that reported it, not by the
 * actuator entry naming them: what a device is (a switch once it reported on/off, actuator-form.ts)
 * follows the device when the map moves its entry to another zone or renames it.
 */
import type { ActuatorStateEvent } from '../core/events.js';
import type { NativeActuator } from './map.js';
import { channelOf, reportChannel } from './placement.js';
import type { NativeRouter } from './router.js';
import type { ActuatorState, Family } from './types.js';

type Reporter = Pick<NativeActuator, 'family' | 'nativeId' | 'channel'>;

const keyOf = (a: Reporter): string => `${a.family}\u0000${a.nativeId}\u0000${reportChannel(a)}`;

export class ActuatorStates {
  private readonly states = new Map<string, ActuatorState>();

  get(a: Reporter): ActuatorState | undefined {
    return this.states.get(keyOf(a));
  }

  set(a: Reporter, state: ActuatorState): void {
    this.states.set(keyOf(a), state);
  }

  /** A report merged into what the device reported before (one key built per report); the state before and after. */
  merge(a: Reporter, report: ActuatorState): { before: ActuatorState | undefined; state: ActuatorState } {
    const key = keyOf(a);
    const before = this.states.get(key);
    const state = { ...before, ...report };
    this.states.set(key, state);
    return { before, state };
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

export type ReplayedReport = Pick<ActuatorStateEvent, 'site' | 'zone' | 'actuator' | 'state' | 'device'>;

/**
 * A stored report the rules' rebuild replays (in time order, before they go live): the device's
 * form is known to the replay's sagas and to the resends that fall due at the start, as when it
 * was reported. Only while the entry still names the device that reported it.
 */
export function replayedReport(router: Pick<NativeRouter, 'actuator' | 'actuatorStates'>, r: ReplayedReport): void {
  const a = router.actuator(`${r.site}/${r.zone}/${r.actuator}`);
  if (a && r.device === `${a.family}:${a.nativeId}`) router.actuatorStates.set(a, r.state as ActuatorState);
}

/**
 * What each mapped native actuator last reported, as the rebuild read it: listed at once (an
 * actuator-only device has no readings to seed it), and its form known (a switch that reported
 * on/off) before it reports again.
 */
export function seedReports(router: Pick<NativeRouter, 'actuator' | 'actuatorStates' | 'registry'>, reports: readonly { site: string; zone: string; actuator: string; reported: Readonly<Record<string, unknown>> | undefined; reportedAt: number | undefined }[]): void {
  for (const r of reports) {
    const a = r.reported && r.reportedAt !== undefined ? router.actuator(`${r.site}/${r.zone}/${r.actuator}`) : undefined;
    if (!a) continue;
    router.actuatorStates.set(a, r.reported as ActuatorState);
    // Heard then, but not now: its silence, seeded just before, stays.
    const e = router.registry.known(a.family, a.nativeId, r.reportedAt!);
    e.lastSeen = Math.max(e.lastSeen, r.reportedAt!);
    // Under the channel its reports name (a Tasmota's POWER is relay 1): one entry, not a second once it reports.
    e.actuators.set(channelOf(a.family, a.channel), r.reported as ActuatorState);
  }
}
