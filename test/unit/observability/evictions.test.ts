/**
 * What bounded tables forget is counted per entry and said once per burst: a flood of made-up
 * ids is one warning while it lasts, not one per entry, and a new flood after a quiet minute is
 * said again (a warning only at the first ever would hide next week's flood).
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { evictionCounter } from '../../../gateway/observability/evictions.js';
import { memoryReporter } from '../../../gateway/rules/bounds.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

describe('evictionCounter', () => {
  it('counts every entry, and says each table once per burst, again after a quiet minute', async () => {
    const clock = new ManualClock(0);
    const metrics = testMetrics(clock);
    const { lines, stream } = captureLogs();
    const evicted = evictionCounter(metrics, createLogger('info', stream), () => clock.now());
    // A burst lasting three minutes, one eviction a second: said once.
    for (let i = 0; i < 180; i++) {
      evicted('rule_devices', 100_000, 'cost');
      clock.advanceBy(1000);
    }
    evicted('rule_zones', 100_000, 'cost');
    clock.advanceBy(60_000);
    evicted('rule_devices', 100_000, 'cost');
    expect(await count(metrics, 'gateway_memory_evictions_total', { map: 'rule_devices' })).toBe(181);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND').map((l) => l['map'])).toEqual(['rule_devices', 'rule_zones', 'rule_devices']);
  });

  it('refusals: the rules say what they refuse (error, GW_ERR_MEMORY_FULL) apart from what they forget, each counted by its table', async () => {
    const metrics = testMetrics(new ManualClock(0));
    const { lines, stream } = captureLogs();
    const memory = memoryReporter(metrics, createLogger('info', stream));
    for (let i = 0; i < 3; i++) memory.refused('alarm', 100_000);
    memory.refused('actuator', 100_000);
    memory.forgot('actuator', 100_000);
    expect(await count(metrics, 'gateway_memory_refusals_total', { map: 'rule_alarms' })).toBe(3);
    expect(await count(metrics, 'gateway_memory_refusals_total', { map: 'rule_actuators' })).toBe(1);
    expect(await count(metrics, 'gateway_memory_evictions_total', { map: 'rule_actuators' })).toBe(1);
    expect(lines.filter((l) => String(l['code']).startsWith('GW_ERR_MEMORY')).map((l) => [l['code'], l['level'], l['map']])).toEqual([
      ['GW_ERR_MEMORY_FULL', 50, 'rule_alarms'],
      ['GW_ERR_MEMORY_FULL', 50, 'rule_actuators'],
      ['GW_ERR_MEMORY_BOUND', 40, 'rule_actuators'],
    ]);
  });
});
