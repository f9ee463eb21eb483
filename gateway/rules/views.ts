import type { AlarmView } from './alarms.js';
import { ACTUATOR_UNRESPONSIVE, MANUAL_OVERRIDE } from './actions.js';
import type { RulesRuntime } from './runtime.js';

export type { AlarmView } from './alarms.js';

/**
 * What the API and the live page show of a runtime's alarms and actuators: a single gateway's
 * (rules/service.ts), and a cluster's (cluster/rules-view.ts, from every partition's shared state).
 */

/** An actuator as the live page and the API show it: commanded, reported, and how its last command fares. */
export interface ActuatorView {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  /** What the gateway holds it to be doing; undefined when unknown (it did not confirm). */
  readonly data: Readonly<Record<string, unknown>> | undefined;
  readonly since: number | undefined;
  readonly rule: string | undefined;
  readonly reported: Readonly<Record<string, unknown>> | undefined;
  readonly reportedAt: number | undefined;
  /** `pending` (waiting for a confirmation), `unresponsive`, `manual`, `confirmed` (also late, after it failed), or `untracked` (never commanded, it does not report, or its state is no command of the rules). */
  readonly status: 'pending' | 'unresponsive' | 'manual' | 'confirmed' | 'untracked';
}

/** Active alarms, most severe and most recent first. */
export function alarmViews(runtime: RulesRuntime): AlarmView[] {
  const rank = { critical: 0, warning: 1, info: 2 } as const;
  return runtime.alarms
    .active()
    .map((a) => runtime.alarms.view(a))
    .sort((a, b) => rank[a.severity] - rank[b.severity] || b.lastSeen - a.lastSeen);
}

/** Every actuator the rules know of, with what it reported and how its commands fare. */
export function actuatorViews(runtime: RulesRuntime): ActuatorView[] {
  const { dispatcher, commands, alarms } = runtime;
  const targets = new Set<string>([...dispatcher.all().keys()]);
  for (const a of alarms.active()) if (a.actuator) targets.add(`${a.site}/${a.zone}/${a.actuator}`);
  return [...targets].sort().map((target) => {
    const [site = '', zone = '', actuator = ''] = target.split('/');
    const current = dispatcher.current(target);
    const report = commands.lastReport(target);
    const status = alarms.find({ rule: ACTUATOR_UNRESPONSIVE, site, zone, actuator })
      ? 'unresponsive'
      : alarms.find({ rule: MANUAL_OVERRIDE, site, zone, actuator })
        ? 'manual'
        : commands.waiting(target)
          ? 'pending'
          : report && current?.commandId !== undefined
            ? 'confirmed'
            : 'untracked';
    return { site, zone, actuator, data: current?.data, since: current?.changedAt, rule: current?.rule, reported: report?.state, reportedAt: report?.at, status };
  });
}

/** What each actuator last reported (the live page's `reported`, `site/zone/actuator` → state), as the runtime has it: rebuilt at start, or shared. */
export function reportedStates(runtime: RulesRuntime): { readonly target: string; readonly state: Readonly<Record<string, unknown>>; readonly at: number; readonly device: string }[] {
  return [...runtime.commands.memory.reported].map(([target, r]) => ({ target, state: r.state, at: r.at, device: r.device }));
}

/** /readyz's word on a start without history (rebuild.ts). */
export { startedWithoutHistory } from './rebuild.js';
