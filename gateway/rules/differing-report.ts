import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { ActuatorStateEvent, CommandEvent, CommandStatusEvent, DecidingFact } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import { MANUAL_OVERRIDE, type ActionDispatcher, type ActuatorState } from './actions.js';
import type { AlarmBook } from './alarms.js';
import { cloudEvent } from './cloud-event.js';
import type { RuleDefinition } from './pack.js';
import { describe } from './saga.js';

/**
 * A report that differs from what the rules commanded while no command waits (rules/commands.ts):
 * a change by hand (`overridden`, the `manual_override` alarm, the rules leave the actuator alone
 * for `holdMs`), unless the device had just come back (restarted, rejoined: the devices layer
 * says so, devices/outcome.ts). A plug or relay that lost power comes back in its power-on
 * state (Zigbee2MQTT power_on_behavior, Tasmota PowerOnState, a Shelly's initial_state): nobody
 * touched it, so the rules' last command is sent again, as a new command event stored and
 * tracked like any other (a rebuild replays it as it was).
 */

/** The deciding fact of a command that puts an actuator back after it came back (the trace shows it as the command's firing). */
export const CAME_BACK_FACT = 'cameBack';

export interface DifferingReportOptions {
  readonly clock: Clock;
  readonly holdMs: number;
  readonly dispatcher: ActionDispatcher;
  readonly alarms: AlarmBook;
  readonly onStatus: (s: CommandStatusEvent) => void;
  readonly notify: (alert: ReturnType<AlarmBook['alert']>) => void;
  /** Publish and store a command the tracker makes itself (an actuator put back after it came back); without it, such a report is a change by hand. */
  readonly command?: (c: CommandEvent) => void;
  /** The rule of that name in force now, if any: a command is put back only while its rule still gives it. */
  readonly ruleNamed?: (name: string) => RuleDefinition | undefined;
  readonly log?: Logger;
}

const isOff = (s: Readonly<Record<string, unknown>>): boolean => s['state'] === 'off' || s['mode'] === 'off';

/**
 * What a device that came back reporting `reported` gets, against the rules' last command
 * `current`: put back (`restore`) only when it came back off while the rules had it on (a heater,
 * a pump after a power cut) and the rule that said so is still in force and still says so; its
 * state simply followed (`adopt`) when that rule no longer says so (a pack deleted to stop it). One
 * that comes back on while the rules had it off is what a wall switch does to a smart bulb (off and
 * on again, to force it on): a change by hand.
 */
export function afterComingBack(o: Pick<DifferingReportOptions, 'ruleNamed'>, actuator: string, reported: Readonly<Record<string, unknown>>, current: ActuatorState): 'restore' | 'adopt' | 'by hand' {
  if (!isOff(reported) || isOff(current.data)) return 'by hand';
  const event = current.rule === undefined ? undefined : o.ruleNamed?.(current.rule)?.event;
  const still = event?.type === 'command' && event.params.actuator === actuator && JSON.stringify(event.params.data) === JSON.stringify(current.data);
  return still ? 'restore' : 'adopt';
}

/** The actuator was changed by hand: the rules' last command is `overridden` (at `at`) and the manual hold starts. */
export function changedByHand(o: DifferingReportOptions, at: number, target: string, r: ActuatorStateEvent, commandId: string | undefined, data: Readonly<Record<string, unknown>> | undefined): void {
  if (commandId !== undefined && data !== undefined) {
    o.onStatus({
      id: newEventId(),
      commandId,
      status: 'overridden',
      site: r.site,
      zone: r.zone,
      actuator: r.actuator,
      rule: o.dispatcher.current(target)?.rule ?? '',
      attempt: 0,
      data,
      reported: r.state,
      correlationId: r.id,
      detail: `changed by hand to ${describe(r.state)}`,
      time: new Date(at).toISOString(),
      timeMs: at,
    });
  }
  o.dispatcher.adopt(target, r.state, r.timeMs);
  const minutes = Math.round(o.holdMs / 60_000);
  const { alarm, notify } = o.alarms.fire(
    { rule: MANUAL_OVERRIDE, type: 'actuator.manual-override', severity: 'info', site: r.site, zone: r.zone, actuator: r.actuator },
    { repeatMs: Number.POSITIVE_INFINITY, clearAfterMs: o.holdMs },
    { message: `${r.actuator} in ${r.site}/${r.zone} was changed by hand to ${describe(r.state)}: the rules leave it alone for ${minutes} min`, value: r.state, kind: undefined, device: r.device, correlationId: r.id },
  );
  if (alarm && notify) o.notify(o.alarms.alert(alarm, r.id));
}

/**
 * The device came back reporting another state than the rules' last command (`current`, which a
 * command set): that command again, correlated with the report; its deciding fact says why
 * (`cameBack`, kept with the command for the trace). `sent` starts its saga.
 */
export function restoreAfterComingBack(o: DifferingReportOptions & { readonly command: (c: CommandEvent) => void }, target: string, r: ActuatorStateEvent, current: ActuatorState, sent: (c: CommandEvent, detail: string) => void): void {
  const { site, zone, actuator } = r;
  const why = r.cameBack ?? 'came back';
  const now = o.clock.now();
  const rule = current.rule ?? '';
  // The type as the rule in force gives it (a cluster's shared state keeps no command type).
  const event = o.ruleNamed?.(rule)?.event;
  const type = (event?.type === 'command' ? event.params.type : undefined) ?? current.type ?? `${actuator}.set`;
  const ce = cloudEvent(type, rule, target, r.id, current.data, now);
  const facts: DecidingFact[] = [{ fact: CAME_BACK_FACT, params: { device: r.device, why, restores: current.commandId }, operator: 'notEqual', value: current.data, factResult: r.state, result: true }];
  const c: CommandEvent = { kind: 'command', id: ce.id, timeMs: now, topic: `commands/${target}`, site, zone, actuator, rule, cloudEvent: ce, facts };
  o.dispatcher.restore(c);
  o.log?.info(
    { commandId: c.id, restores: current.commandId, reportId: r.id, device: r.device, site, zone, actuator, rule, reported: r.state, data: current.data, why },
    `${actuator} in ${site}/${zone} came back reporting ${describe(r.state)} (${why}): not a change by hand; the rules' last command ${describe(current.data)} is sent again`,
  );
  o.command(c);
  sent(c, `restored: ${r.device} came back (${why}) reporting ${describe(r.state)}; the rules' last command was ${current.commandId ?? '?'}`);
}
