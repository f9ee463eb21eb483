import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import type { Clock } from '../core/clock.js';
import type { Suppression } from './actions.js';
import { formatOffset } from './duration.js';
import type { Wake } from './runtime-options.js';

/** A command the rules wanted that an actuator's minimum on (or off) time holds back until `until`. */
export interface HeldBack {
  /** When the rules wanted it (epoch ms). */
  readonly at: number;
  readonly rule: string;
  /** `site/zone/actuator` */
  readonly target: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** The state the actuator is kept in. */
  readonly holding: 'on' | 'off';
  readonly minimumMs: number;
  /** When it may switch; the rules run again then. */
  readonly until: number;
}

const pad = (n: number): string => String(n).padStart(2, '0');
/** Local wall-clock time, as the terminal's log lines show theirs. */
const clockTime = (ms: number): string => {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};

/** One line for people: `hq/f1/hvac stays on until 10:05:00 (minimum on time 5m00s): {"mode":"off"} by hvac-cool-done is held back`. */
export function describeHeldBack(h: HeldBack, when: (ms: number) => string = clockTime): string {
  return `${h.target} stays ${h.holding} until ${when(h.until)} (minimum ${h.holding} time ${formatOffset(h.minimumMs)}): ${JSON.stringify(h.data)} by ${h.rule} is held back, and the rules run again then`;
}

/** A firing whose command lost to another rule's for the same actuator and reading (rule tests and the trace say it). */
export type Lost = Extract<Suppression, { kind: 'overridden' }>;

/** Why it lost, for people: `lost to fan-off {"state":"off"}: same priority (10); of rules with the same priority, the one whose name sorts first wins`. */
export function describeLost(s: Lost): string {
  const why =
    s.byPriority === s.priority
      ? `same priority (${s.priority}); of rules with the same priority, the one whose name sorts first wins`
      : `higher priority (${s.byPriority} against ${s.priority})`;
  return `lost to ${s.by} ${JSON.stringify(s.byData)}: ${why}`;
}

/**
 * Says, once per hold, that a command is held back by a minimum on/off time (the metric
 * `gateway_commands_deferred_total` counts every one): readings that keep asking for the same
 * command while it is held are not logged again.
 */
export class HeldBackReporter {
  /** Per actuator, the hold last said (targets come from readings' zones: bounded; one forgotten is at worst said again). */
  private readonly said = new BoundedMap<string, string>(10_000);

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly onHeld?: (h: HeldBack) => void,
    /** Every firing that lost its actuator to another rule's command (scenarios say which, and why). */
    private readonly onLost?: (l: Lost & { readonly at: number }) => void,
  ) {}

  report(s: Suppression): void {
    if (s.kind === 'overridden') this.onLost?.({ ...s, at: this.clock.now() });
    if (s.kind !== 'min-on-off') return;
    const key = `${s.retryAt}|${JSON.stringify(s.data)}`;
    if (this.said.get(s.target) === key) return;
    this.said.set(s.target, key);
    const held: HeldBack = { at: this.clock.now(), rule: s.rule, target: s.target, data: s.data, holding: s.holding, minimumMs: s.minimumMs, until: s.retryAt };
    this.log.info({ rule: held.rule, target: held.target, data: held.data, holding: held.holding, until: new Date(held.until).toISOString() }, describeHeldBack(held));
    this.onHeld?.(held);
  }
}

type Retry = Extract<Wake, { type: 'retry' }>;

/**
 * The re-runs at the end of a minimum on/off time (or a manual hold) that fell due in a rebuild's
 * replay, by target: a single gateway cannot tell one that ran while it was up from one that fell
 * due while it was away, except by what it stored. One after which no command to its target was
 * stored (nor a change by hand) did not run, or ran to no avail: it runs again when the rules go
 * live (`again`), so what was held back is not lost with the restart.
 */
export class DryRetries {
  private readonly due = new Map<string, { readonly wake: Retry; readonly at: number }>();

  record(wake: Retry, at: number): void {
    this.due.set(wake.target, { wake, at });
  }

  /** Those to run again (`changedAt`: when the target's state last changed, if known); forgets them all. */
  take(changedAt: (target: string) => number | undefined): Retry[] {
    const again = [...this.due.values()].filter(({ wake, at }) => (changedAt(wake.target) ?? Number.NEGATIVE_INFINITY) < at).map((d) => d.wake);
    this.due.clear();
    return again;
  }
}
