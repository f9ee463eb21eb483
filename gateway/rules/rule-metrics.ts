import { Counter, Gauge, type Registry } from 'prom-client';

/** The rules' own metrics, beside the gateway's (registered on its registry). */
export function ruleMetrics(registry: Registry, sources: { timers: () => number; series: () => number; rejectedFiles?: () => number }): {
  readonly deferred: Counter<'actuator'>;
  readonly wakes: Counter<'type'>;
  readonly overloaded: Counter;
} {
  const deferred = new Counter({
    name: 'gateway_commands_deferred_total',
    help: 'Commands held back by an actuator’s minimum on/off time (the rules run again when it is up), by actuator',
    labelNames: ['actuator'],
    registers: [registry],
  });
  const wakes = new Counter({
    name: 'gateway_rule_wakeups_total',
    help: 'Rule runs started by a timer rather than a reading: watch (held for, absence) or retry (after a minimum on/off time)',
    labelNames: ['type'],
    registers: [registry],
  });
  new Gauge({
    name: 'gateway_rule_timers',
    help: 'Rule timers pending (one per watched device, zone or site at most)',
    registers: [registry],
    collect() {
      this.set(sources.timers());
    },
  });
  new Gauge({
    name: 'gateway_rule_window_series',
    help: 'Series of recent readings kept for the rules’ sliding windows',
    registers: [registry],
    collect() {
      this.set(sources.series());
    },
  });
  new Gauge({
    name: 'gateway_rule_files_rejected',
    help: 'Rule files whose last version was rejected (GW_ERR_RULE_FILE; the rules in force stay; /readyz says degraded)',
    registers: [registry],
    collect() {
      this.set(sources.rejectedFiles?.() ?? 0);
    },
  });
  const overloaded = new Counter({
    name: 'gateway_rules_overloaded_total',
    help: 'Readings stored but not run through the rules because the rules were too far behind',
    registers: [registry],
  });
  return { deferred, wakes, overloaded };
}

