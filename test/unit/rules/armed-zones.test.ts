/**
 * The armed-zones file (DATA_DIR/armed-zones.json): a damaged one is said, not taken silently for
 * "nothing armed"; a flood of made-up zone names grows neither the table nor the file past the bound.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { ArmedZones } from '../../../gateway/rules/armed-zones.js';
import { memoryReporter, RULE_BOUNDS } from '../../../gateway/rules/bounds.js';
import { RulesRuntime } from '../../../gateway/rules/runtime.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'gw-test-armed-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('the armed-zones file', () => {
  it('is kept at each change and read back; none yet is the first run, not a problem', async () => {
    const file = join(dir, 'armed-zones.json');
    const zones = new ArmedZones(file);
    expect(await zones.load()).toBeUndefined();
    await zones.setArmed('hq', 'vault', true);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'hq/vault': true });
    const again = new ArmedZones(file);
    expect(await again.load()).toBeUndefined();
    expect(again.isArmed('hq', 'vault')).toBe(true);
  });

  it('says why a damaged file cannot be read (the caller logs it), instead of starting with every zone disarmed without a word', async () => {
    const file = join(dir, 'armed-zones.json');
    await writeFile(file, '{"hq/vault": tr');
    const zones = new ArmedZones(file);
    expect(await zones.load()).toMatch(/JSON/);
    expect(zones.isArmed('hq', 'vault')).toBe(false);
  });
});

describe('the armed zones past their bound', () => {
  /** The rules as the gateway runs them, on a real file, their bound of armed zones at 3, counted in real metrics. */
  function rulesWith(file: string) {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
    const metrics = testMetrics(clock);
    const { lines, stream } = captureLogs();
    const log = createLogger('info', stream);
    const runtime = new RulesRuntime({ clock, log, onOutcome: () => undefined, armedFile: file, bounds: { armedZones: 3 }, observer: memoryReporter(metrics, log) });
    const codes = () => lines.filter((l) => String(l['code']).startsWith('GW_ERR_MEMORY')).map((l) => [l['code'], l['map']]);
    const onFile = async () => JSON.parse(await readFile(file, 'utf8')) as Record<string, boolean>;
    return { runtime, metrics, codes, onFile };
  }

  it('forgets the disarmed zone changed longest ago, never an armed one; arming a new zone when all are armed is refused; each counted and said', async () => {
    const file = join(dir, 'armed-zones.json');
    const { runtime, metrics, codes, onFile } = rulesWith(file);
    runtime.setArmed('hq', 'vault', true);
    runtime.setArmed('hq', 'lobby', false);
    runtime.setArmed('hq', 'lab', true);
    runtime.setArmed('hq', 'gate', true);
    await runtime.idle();
    // The lobby (disarmed) made room: it reads disarmed as before.
    expect(await onFile()).toEqual({ 'hq/vault': true, 'hq/lab': true, 'hq/gate': true });
    expect(await count(metrics, 'gateway_memory_evictions_total', { map: 'armed_zones' })).toBe(1);
    runtime.setArmed('hq', 'x1', true);
    runtime.setArmed('hq', 'x2', false);
    await runtime.idle();
    // Every zone remembered is armed: none is disarmed for room; the newcomer stays disarmed.
    expect(runtime.state.isArmed('hq', 'x1')).toBe(false);
    expect(runtime.state.isArmed('hq', 'vault')).toBe(true);
    expect(runtime.state.armedCount).toBe(3);
    expect(await onFile()).toEqual({ 'hq/vault': true, 'hq/lab': true, 'hq/gate': true });
    expect(await count(metrics, 'gateway_memory_refusals_total', { map: 'armed_zones' })).toBe(1);
    expect(codes()).toEqual([
      ['GW_ERR_MEMORY_BOUND', 'armed_zones'],
      ['GW_ERR_MEMORY_FULL', 'armed_zones'],
    ]);
    // Disarmed, the vault makes room for the next arming.
    runtime.setArmed('hq', 'vault', false);
    runtime.setArmed('hq', 'x1', true);
    await runtime.idle();
    expect(await onFile()).toEqual({ 'hq/lab': true, 'hq/gate': true, 'hq/x1': true });
  });

  it('a flood of made-up zone names leaves at most the bound (10,000 by default), in memory and in the file read back', async () => {
    expect(RULE_BOUNDS.armedZones).toBe(10_000);
    const file = join(dir, 'armed-zones.json');
    const doc: Record<string, boolean> = { 'hq/vault': true };
    for (let i = 0; i < 20; i++) doc[`hq/made-up-${i}`] = i % 2 === 0;
    await writeFile(file, JSON.stringify(doc));
    // A file an older version let grow: read back within the bound, the armed zones kept first.
    const zones = new ArmedZones(file, 11);
    expect(await zones.load()).toBeUndefined();
    expect(zones.armedCount).toBe(11);
    expect(zones.isArmed('hq', 'vault')).toBe(true);
    expect(zones.armedStates().filter((z) => z.armed)).toHaveLength(11);
  });
});
