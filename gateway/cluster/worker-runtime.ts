import type { Logger } from 'pino';
import type { ReplayClock } from '../core/replay-clock.js';
import type { RuleBounds } from '../rules/bounds.js';
import type { RuleOutput } from '../rules/outputs.js';
import { RulesRuntime, type CommandSettings, type RuntimeObserver } from '../rules/runtime.js';

/**
 * A partition owner's rules runtime (partition-worker.ts): its outputs handed to `output`, the
 * observer told only what it does live (a replay's firings are not counted again).
 */
export function workerRuntime(o: { readonly log: Logger; readonly commands: CommandSettings; readonly bounds?: Partial<RuleBounds>; readonly observer?: RuntimeObserver }, clock: ReplayClock, output: (out: RuleOutput) => void): RulesRuntime {
  const live = (): boolean => !runtime.dry;
  const runtime: RulesRuntime = new RulesRuntime({
    clock,
    log: o.log,
    commands: o.commands,
    onOutcome: (outcome) => output({ type: 'outcome', outcome }),
    onAlarm: (event, persist) => output({ type: 'alarm', event, persist }),
    onStatus: (event) => output({ type: 'status', event }),
    resend: (command, attempt) => output({ type: 'resend', command, attempt }),
    bounds: o.bounds,
    observer: {
      ...o.observer,
      fired: (rule) => live() && o.observer?.fired?.(rule),
      suppressed: (s) => live() && o.observer?.suppressed?.(s),
      woke: (type) => live() && o.observer?.woke?.(type),
      ran: (...a) => live() && o.observer?.ran?.(...a),
    },
  });
  return runtime;
}
