/**
 * A rule removed or renamed while its alarm is active, through a real gateway on a manual clock
 * with a RULES_DIR of its own, its pack edited while it runs: the alarm behaves as at a start
 * without its rule (README "Alarms, not alert floods"): it stays active, `"ruleNotLoaded": true`,
 * said once at warn, no quiet time clears it; once its rule is back, it clears by that rule.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const m = 60_000;
let parent: string;
let rulesDir: string;
let clock: ManualClock;
let gw: TestGateway;
let client: MqttClient;
let seq = 0;

interface AlarmJson {
  id: string;
  rule: string;
  state: string;
  ruleNotLoaded?: boolean;
}

const smoke = {
  name: 'smoke-critical',
  kinds: ['smoke'],
  conditions: { all: [{ fact: 'value', operator: 'equal', value: true }] },
  event: { type: 'alert', params: { severity: 'critical', type: 'safety.smoke', message: 'smoke by {{device}}', per: 'device', clearWhen: { all: [{ fact: 'value', operator: 'equal', value: false }] } } },
};
const hot = {
  name: 'too-hot',
  kinds: ['temperature'],
  conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 50 }] },
  event: { type: 'alert', params: { severity: 'warning', type: 'climate.hot', message: 'hot in {{zone}}', clearAfter: '1m' } },
};
const pack = (rules: unknown[], description = 'alarms whose rules come and go'): string => JSON.stringify({ name: 'comings', description, rules });
const packFile = (): string => join(rulesDir, 'comings.json');

const publish = (topic: string, value: unknown): Promise<unknown> => client.publishAsync(topic, JSON.stringify({ value, id: `p${++seq}` }), { qos: 1 });
const alarms = async (): Promise<AlarmJson[]> => ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms;
const inForce = (): number => gw.logs.filter((l) => l.msg === 'rules in force').length;
const warned = (): string[] => gw.logs.filter((l) => l.level === 40 && String(l.msg).includes('stays active: its rule is not loaded')).map((l) => String(l['rule']));

/** Writes the pack and waits until the rules in force are its new version. */
async function edit(text: string): Promise<void> {
  const before = inForce();
  await writeFile(packFile(), text);
  await waitFor(() => inForce() > before, 'the edited pack in force');
  await gw.gateway.rules.idle();
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'gw-alarm-rule-removed-'));
  rulesDir = join(parent, 'rules');
  await mkdir(rulesDir);
  await writeFile(packFile(), pack([smoke, hot]));
  clock = new ManualClock(Date.now());
  gw = await startGateway({ clock, rulesDir, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: 'alarm-rule-removed' });
  await publish('sensors/lab/k1/sd1/smoke', true);
  await publish('sensors/lab/k1/t1/temperature', 60);
  const both = await waitFor(async () => {
    const list = await alarms();
    return list.length === 2 ? list : undefined;
  }, 'both alarms raised');
  for (const a of both) ids[a.rule] = a.id;
  // The smoke rule renamed, the hot one removed.
  await edit(pack([{ ...smoke, name: 'smoke-critical-v2' }]));
});

afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(parent, { recursive: true, force: true });
});

describe('an active alarm whose rule is removed or renamed while the gateway runs', () => {
  it('stays active with "ruleNotLoaded": true, said once at warn', async () => {
    expect((await alarms()).map((a) => [a.rule, a.state, a.ruleNotLoaded]).sort()).toEqual([
      ['smoke-critical', 'active', true],
      ['too-hot', 'active', true],
    ]);
    expect(warned().sort()).toEqual(['smoke-critical', 'too-hot']);
  });

  it('is not cleared by a quiet time, and not said again when the rules change again without it', async () => {
    await advanceRules(gw, clock, 10 * m);
    expect((await alarms()).map((a) => a.id).sort()).toEqual([ids['smoke-critical'], ids['too-hot']].sort());
    expect(gw.logs.filter((l) => l.msg === 'alarm cleared')).toEqual([]);
    await edit(pack([{ ...smoke, name: 'smoke-critical-v2' }], 'edited again'));
    expect(warned().sort()).toEqual(['smoke-critical', 'too-hot']);
  });

  it('clears by its rule once the rule is back', async () => {
    await edit(pack([smoke, hot]));
    expect((await alarms()).some((a) => a.ruleNotLoaded === true)).toBe(false);
    // too-hot's quiet minute, counted from its last firing, ran out long ago.
    await advanceRules(gw, clock, 0);
    await waitFor(async () => !(await alarms()).some((a) => a.id === ids['too-hot']), 'the hot alarm cleared by its quiet time');
    await publish('sensors/lab/k1/sd1/smoke', false);
    await waitFor(async () => (await alarms()).length === 0, 'the smoke alarm cleared by its clear condition');
    expect(gw.logs.find((l) => l.msg === 'alarm cleared' && l['alarmId'] === ids['smoke-critical'])?.['reason']).toContain('clear condition met');
  });
});
