import type { Metrics } from '../observability/metrics.js';
import type { RulesRuntime } from '../rules/runtime.js';

/**
 * The rules' gauges of a cluster node: each the sum over the partitions it owns now (`owned()`:
 * the workers ruling live or rebuilt, not those still starting), so a partition handed away stops counting here.
 */
export function readOwnedGauges(metrics: Metrics, owned: () => Iterable<{ readonly runtime: RulesRuntime }>): void {
  const sum = (read: (r: RulesRuntime) => number) => (): number => {
    let n = 0;
    for (const w of owned()) n += read(w.runtime);
    return n;
  };
  metrics.readFrom('ruleTimers', sum((r) => r.wakeups.size));
  metrics.readFrom('ruleWindowSeries', sum((r) => r.series.seriesCount));
  metrics.readFrom('alarmsActive', sum((r) => r.alarms.size));
  metrics.readFrom('commandsPending', sum((r) => r.commands.pending));
}
