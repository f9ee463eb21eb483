import type { CommandData, CommandEvent } from '../core/events.js';

/** A command waiting for its actuator's report (rules/commands.ts). */
export interface Saga {
  readonly command: CommandEvent;
  attempt: number;
  readonly sentAt: number;
  dueAt: number;
  overdue: boolean;
}

/** Every field of the commanded data has the same value in the report (extra fields are fine). */
export function matches(data: Readonly<Record<string, unknown>>, reported: Readonly<Record<string, unknown>>): boolean {
  return Object.entries(data).every(([k, v]) => JSON.stringify(reported[k]) === JSON.stringify(v));
}

/**
 * What a report from `target` (`site/zone/actuator`) must hold to confirm command `data`. The
 * rules know only the contract's terms; the devices layer knows what a native device was asked
 * and can report (a relay given a mode is switched on or off, and reports only that), and is
 * wired in by the composition root. Without it, the data itself.
 */
export type ExpectedReport = (target: string, data: CommandData) => CommandData;

/**
 * The native device behind actuator `target` and whether it is online, as the devices layer last
 * heard (its availability / last will; null: it never said), since when it saw it go offline, and
 * when it last heard from it; undefined for a contract actuator.
 * Wired by the composition root, as `ExpectedReport`.
 */
export type ActuatorAvailability = (target: string) => { readonly device: string; readonly online: boolean | null; readonly since: number | undefined; readonly lastSeen: number | undefined } | undefined;

/** Whether `reported` holds what the command asked of the actuator, in the terms it reports in. */
export function confirms(expected: ExpectedReport | undefined, target: string, data: CommandData, reported: CommandData): boolean {
  return matches(expected ? expected(target, data) : data, reported);
}

export const describe = (data: Readonly<Record<string, unknown>>): string => JSON.stringify(data);

/** `; <device> is offline (last heard …)` when the devices layer says the actuator's device is: why it did not confirm. */
export function offline(a: ReturnType<ActuatorAvailability>): string {
  if (a?.online !== false) return '';
  const when = a.since !== undefined ? ` since ${new Date(a.since).toISOString()}` : a.lastSeen !== undefined ? ` (last heard ${new Date(a.lastSeen).toISOString()})` : '';
  return `; ${a.device} is offline${when}`;
}
