/**
 * The rules' state that outlives the process ruling it: in a cluster it lives in Redis, one hash
 * per partition, written only with the partition's fencing token (cluster/shared-state.ts), and a
 * node taking a partition over starts from it. Each kind of state is one variant of
 * `StateChange`, stored as one field; another kind (alarms, issue 11) is one more variant, its
 * field and its place in `RuleStateSnapshot`.
 */

export interface SharedActuator {
  /** The last command's data. */
  readonly data: Readonly<Record<string, unknown>>;
  /** Epoch ms it was commanded (minimum on/off times count from it). */
  readonly changedAt: number;
}

export type StateChange =
  | { readonly type: 'actuator'; readonly target: string; readonly actuator: SharedActuator }
  | { readonly type: 'armed'; readonly zone: string; readonly armed: boolean }
  | { readonly type: 'alertSent'; readonly target: string; readonly at: number };

export interface RuleStateSnapshot {
  /** `site/zone/actuator` → its last command. */
  readonly actuators: ReadonlyMap<string, SharedActuator>;
  /** `site/zone` → armed. */
  readonly armed: ReadonlyMap<string, boolean>;
  /** `rule/site/zone` → when the alert was last sent (its repeat window). */
  readonly alertsSent: ReadonlyMap<string, number>;
}

const PREFIX: { readonly [K in StateChange['type']]: string } = { actuator: 'act|', armed: 'armed|', alertSent: 'alert|' };

/** The hash field and value a change is written as. */
export function encodeChange(c: StateChange): [field: string, value: string] {
  switch (c.type) {
    case 'actuator':
      return [PREFIX.actuator + c.target, JSON.stringify(c.actuator)];
    case 'armed':
      return [PREFIX.armed + c.zone, c.armed ? '1' : '0'];
    case 'alertSent':
      return [PREFIX.alertSent + c.target, String(c.at)];
  }
}

/** A partition's hash back as the state it holds (fields it does not know are left alone). */
export function decodeSnapshot(hash: Readonly<Record<string, string>>): RuleStateSnapshot {
  const actuators = new Map<string, SharedActuator>();
  const armed = new Map<string, boolean>();
  const alertsSent = new Map<string, number>();
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith(PREFIX.actuator)) {
      try {
        actuators.set(field.slice(PREFIX.actuator.length), JSON.parse(value) as SharedActuator);
      } catch {
        // A damaged field is as if the actuator had never been commanded.
      }
    } else if (field.startsWith(PREFIX.armed)) armed.set(field.slice(PREFIX.armed.length), value === '1');
    else if (field.startsWith(PREFIX.alertSent)) alertsSent.set(field.slice(PREFIX.alertSent.length), Number(value));
  }
  return { actuators, armed, alertsSent };
}
