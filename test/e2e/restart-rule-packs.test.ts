/**
 * Rule packs across restarts, through a real gateway on a manual clock, stopped and started again
 * on the same DATA_DIR and InfluxDB database with a RULES_DIR of its own: a pack broken while the
 * gateway runs keeps its last good version after a restart (its kept copy); a pack deleted on
 * purpose is not brought back; and an active alarm whose rule is not loaded at a start is not
 * cleared by the default quiet time, but stays until its rule is loaded again (or an operator clears it).
 */
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, REPO_RULES, startGateway, type LogLine, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const m = 60_000;
const db = uniqueDb('restart_packs');
let parent: string;
let dataDir: string;
let rulesDir: string;
let clock: ManualClock;
let gw: TestGateway;
let client: MqttClient;
let seq = 0;
/** The rules in force with every pack, and those of security.json. */
let all: number;
let securityRules: number;

interface AlarmJson {
  id: string;
  rule: string;
  device: string;
  state: string;
  acknowledged: boolean;
  ruleNotLoaded?: boolean;
}
interface Ready {
  status: string;
  checks: { rules: { ok: boolean; detail?: string; files?: string[]; keptCopies?: { file: string; acceptedAt: string }[] } };
}

const publish = (topic: string, value: unknown): Promise<unknown> => client.publishAsync(topic, JSON.stringify({ value, id: `p${++seq}` }), { qos: 1 });
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);
const alarms = async (): Promise<AlarmJson[]> => ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms;
const readyz = async (): Promise<Ready> => (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as Ready;
const rulesInForce = (logs: readonly LogLine[]): number | undefined => logs.filter((l) => l.msg === 'rules in force').at(-1)?.['rules'] as number | undefined;
const security = (): string => join(rulesDir, 'security.json');

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, db, rulesDir, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: `restart-packs-${++seq}` });
}

async function restart(between?: () => Promise<void>): Promise<void> {
  const at = clock.now();
  await client.endAsync();
  await gw.stop();
  await between?.();
  await start(at);
}

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'gw-restart-packs-'));
  dataDir = join(parent, 'data');
  rulesDir = join(parent, 'rules');
  await cp(REPO_RULES, rulesDir, { recursive: true, filter: (src) => !src.includes('/tests') && !src.endsWith('.ts') && !src.endsWith('.md') });
  await start(Date.now());
});

afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(parent, { recursive: true, force: true });
});

describe('a pack broken while the gateway runs, then a restart', () => {
  let smokeAlarm: AlarmJson;

  beforeAll(async () => {
    all = rulesInForce(gw.logs) ?? 0;
    securityRules = (JSON.parse(await readFile(security(), 'utf8')) as { rules: unknown[] }).rules.length;
    await publish('sensors/lab/k1/sd1/smoke', true);
    smokeAlarm = await waitFor(async () => (await alarms()).find((a) => a.rule === 'smoke-alarm' && a.device === 'sd1'), 'the smoke alarm raised');
    await waitFor(async () => (await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "rule" = 'smoke-alarm'`)).length >= 1, 'the alarm stored');

    const good = await readFile(security(), 'utf8');
    await writeFile(security(), good.replace('"for": "10m"', '"for": "10 min"'));
    await waitFor(() => gw.logs.find((l) => l.code === 'GW_ERR_RULE_FILE' && String(l['file']).endsWith('security.json')), 'the broken pack rejected');
    await advance(6 * m);
    await restart();
  });

  it('keeps the pack in force from its last good copy, and says so at error with the file, why and when the copy was accepted', async () => {
    expect(rulesInForce(gw.logs)).toBe(all);
    const line = gw.logs.find((l) => l.code === 'GW_ERR_RULE_FILE' && l.level === 50 && String(l['file']).endsWith('security.json'));
    expect(line).toBeDefined();
    expect(String(line?.['err'])).toContain('10 min');
    expect(line?.['keptCopyAcceptedAt']).toEqual(expect.any(String));
    expect(line?.msg).toContain('kept copy');
    expect(line?.['rulesKept']).toBeGreaterThan(0);
  });

  it('keeps /readyz degraded, naming the file that runs from its kept copy', async () => {
    const r = await readyz();
    expect(r).toMatchObject({ status: 'degraded', checks: { rules: { ok: false, files: [security()] } } });
    expect(r.checks.rules.detail).toContain('kept copy');
    expect(r.checks.rules.keptCopies).toEqual([{ file: security(), acceptedAt: expect.any(String) }]);
  });

  it('still has the smoke alarm active (the detector never said clear)', async () => {
    expect((await alarms()).find((a) => a.id === smokeAlarm.id)).toMatchObject({ state: 'active', rule: 'smoke-alarm' });
    expect(gw.logs.filter((l) => l.msg.startsWith('alarm cleared'))).toEqual([]);
  });

  it('raises the smoke alarm for a new smoke reading (the pack runs)', async () => {
    const alerts = await collect(client, 'alerts/lab/critical');
    await publish('sensors/lab/k2/sd2/smoke', true);
    expect((await alerts.next()).json()).toMatchObject({ type: 'safety.smoke', data: { device: 'sd2' } });
  });

  it('replaces the kept copy once the file is fixed, as usual', async () => {
    const fixed = (await readFile(join(REPO_RULES, 'security.json'), 'utf8')).replace('"for": "10m"', '"for": "11m"');
    await writeFile(security(), fixed);
    await waitFor(async () => (await readyz()).status === 'ready', 'the fixed pack loaded');
    expect((await readyz()).checks.rules.keptCopies).toBeUndefined();
    // Written once the fixed rules are in force.
    await waitFor(async () => (await readFile(join(dataDir, 'rules-kept', 'security.json'), 'utf8')) === fixed, 'the kept copy replaced');
    expect(rulesInForce(gw.logs)).toBe(all);
  });
});

describe('a pack deleted while the gateway is stopped, with alarms of its rules active', () => {
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    await waitFor(() => rulesInForce(gw.logs) === all, 'every pack in force');
    await publish('sensors/lab/k4/sd4/smoke', true);
    await publish('sensors/lab/k5/sd5/smoke', true);
    for (const device of ['sd4', 'sd5']) ids[device] = (await waitFor(async () => (await alarms()).find((a) => a.device === device), `the ${device} alarm raised`)).id;
    await waitFor(async () => (await rows(gw.influxUrl, db, `SELECT * FROM "alarms" WHERE "zone" = 'k4' OR "zone" = 'k5'`)).length >= 2, 'both alarms stored');
    await advance(1 * m);
    await restart(() => unlink(security()));
  });

  it('is not brought back from its kept copy', async () => {
    expect(rulesInForce(gw.logs)).toBe(all - securityRules);
    expect((await readyz()).checks.rules.keptCopies).toBeUndefined();
    const alerts = await collect(client, 'alerts/lab/critical');
    await publish('sensors/lab/k3/sd3/smoke', true);
    await gw.gateway.rules.idle();
    await advance(1000);
    expect(alerts.messages).toEqual([]);
  });

  it('leaves the alarms of its rules active past the default quiet time, said once at warn', async () => {
    await advance(6 * m);
    const active = (await alarms()).filter((a) => a.device === 'sd4' || a.device === 'sd5');
    expect(active.map((a) => [a.id, a.state, a.ruleNotLoaded]).sort()).toEqual([[ids['sd4'], 'active', true], [ids['sd5'], 'active', true]].sort());
    expect(gw.logs.filter((l) => l.msg === 'alarm cleared')).toEqual([]);
    const warned = gw.logs.filter((l) => l.level === 40 && l.rule === 'smoke-alarm' && String(l.msg).includes('not loaded') && (l['device'] === 'sd4' || l['device'] === 'sd5'));
    expect(warned.map((l) => l['device']).sort()).toEqual(['sd4', 'sd5']);
  });

  it('lets an operator acknowledge such an alarm', async () => {
    const res = await fetch(`${gw.httpUrl}/api/alarms/${ids['sd5'] ?? ''}/ack`, { method: 'POST', body: JSON.stringify({ by: 'ops' }) });
    expect(res.status).toBe(200);
    expect((await alarms()).find((a) => a.id === ids['sd5'])).toMatchObject({ state: 'active', acknowledged: true });
  });

  it('clears it by its rule once the pack is back', async () => {
    await cp(join(REPO_RULES, 'security.json'), security());
    await waitFor(() => rulesInForce(gw.logs) === all, 'the pack loaded again');
    expect((await alarms()).find((a) => a.id === ids['sd4'])?.ruleNotLoaded).toBeUndefined();
    await publish('sensors/lab/k4/sd4/smoke', false);
    await waitFor(async () => !(await alarms()).some((a) => a.id === ids['sd4']), 'the sd4 alarm cleared by its clear condition');
    expect(gw.logs.find((l) => l.msg === 'alarm cleared' && l['alarmId'] === ids['sd4'])?.['reason']).toContain('clear condition met');
  });
});
