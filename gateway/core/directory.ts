/**
 * Lookups an earlier folder needs from a later one (docs/DEVELOPING.md: a port in core/):
 * ingest must know which actuator a device is (to route `devices/<device>/state`) and whether an
 * acknowledged alarm exists (an unknown one is a dead letter), but actuators are learned by the
 * broker or placed by the device map, and alarms live in the rules.
 */

/** An actuator slot of the contract: `commands/<site>/<zone>/<actuator>`. */
export interface ActuatorRef {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
}

/** Which actuator a device is; several sources can answer (see `firstOf`). */
export interface ActuatorDirectory {
  /** The actuator, or a reason why none (unknown, ambiguous) for the dead letter's detail. */
  actuatorOf(device: string): ActuatorRef | { readonly problem: string };
}

/** Asks each directory in turn; the first that knows the device answers (else the first one's reason). */
export function firstOf(...directories: readonly ActuatorDirectory[]): ActuatorDirectory {
  return {
    actuatorOf(device) {
      let first: { readonly problem: string } | undefined;
      for (const d of directories) {
        const found = d.actuatorOf(device);
        if (!('problem' in found)) return found;
        first ??= found;
      }
      return first ?? { problem: `no actuator is known for device ${JSON.stringify(device)}` };
    },
  };
}

/** Whether an alarm id is one the rules know (active, or cleared recently). */
export interface AlarmDirectory {
  knows(alarmId: string, site?: string): boolean;
}
