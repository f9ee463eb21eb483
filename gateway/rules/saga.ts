import type { CommandEvent } from '../core/events.js';

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

export const describe = (data: Readonly<Record<string, unknown>>): string => JSON.stringify(data);
