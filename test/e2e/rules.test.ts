/**
 * The shipped rule packs and rule reloading, through a real gateway (real broker, spool and
 * InfluxDB) whose clock is a manual one, so the timers of the rules (held for, minimum off
 * time) run in simulated time.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { REPO_RULES, advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let clock: ManualClock;
let rulesDir: string;
let client: MqttClient;
let seq = 0;

async function publish(topic: string, value: unknown): Promise<string> {
  const id = `r${++seq}`;
  await client.publishAsync(topic, JSON.stringify({ value, id }), { qos: 1 });
  return id;
}
const correlation = (m: { json<T>(): T }) => m.json<{ correlationid: string }>().correlationid;

/** Moves the gateway's clock on, letting the rules finish each timer's run before the next. */
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);

beforeAll(async () => {
  rulesDir = await mkdtemp(join(tmpdir(), 'gw-rules-'));
  await cp(REPO_RULES, rulesDir, { recursive: true });
  clock = new ManualClock(Date.now());
  gw = await startGateway({ rulesDir, clock });
  client = await connect(gw.mqttUrl, { clientId: 'rules-test' });
});
afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(rulesDir, { recursive: true, force: true });
});

describe('lighting', () => {
  it('turns the lights on when a dark zone becomes occupied, and off once it has been empty for 2 minutes, on a timer', async () => {
    const lights = await collect(client, 'commands/hq/+/lights');
    await publish('sensors/hq/lobby/lux-1/illuminance', 20);
    const on = await publish('sensors/hq/lobby/occ-1/occupancy', true);
    expect((await lights.next((m) => correlation(m) === on)).json()).toMatchObject({ type: 'lights.set', data: { state: 'on' } });
    const off = await publish('sensors/hq/lobby/occ-1/occupancy', false);
    await advance(119_000);
    // Not off yet: the next lights command is another zone's, published after 1m59s.
    const elsewhere = await publish('sensors/hq/hall/occ-9/occupancy', true);
    expect(correlation(await lights.next((m) => correlation(m) !== on))).toBe(elsewhere);
    // Readings without a ts get the next free millisecond of their series, hence the margin.
    await advance(2000);
    const offCommand = await lights.next((m) => m.topic === 'commands/hq/lobby/lights' && correlation(m) === off);
    expect(offCommand.json()).toMatchObject({ source: 'rules/lights-off-vacant', data: { state: 'off' } });
  });

  it('does not turn lights on for motion in a zone in daylight', async () => {
    const lights = await collect(client, 'commands/hq/atrium/lights');
    const bright = await publish('sensors/hq/atrium/lux-2/illuminance', 650);
    expect((await lights.next()).json()).toMatchObject({ correlationid: bright, source: 'rules/lights-off-daylight', data: { state: 'off' } });
    const motion = await publish('sensors/hq/atrium/pir-2/motion', true);
    await publish('sensors/hq/atrium/lux-2/illuminance', 50);
    const occupied = await publish('sensors/hq/atrium/occ-2/occupancy', true);
    // Switched off a moment ago, the lights stay off their 5 s minimum, then the occupancy is judged again.
    await advance(5000);
    // The next lights command is the one for the occupied dark zone, not the daylight motion.
    const next = await lights.next((m) => correlation(m) !== bright);
    expect(correlation(next)).not.toBe(motion);
    expect(next.json()).toMatchObject({ correlationid: occupied, source: 'rules/lights-on-occupied', data: { state: 'on' } });
  });
});

describe('security', () => {
  it('alerts on a door opening in an armed zone but not in a disarmed one', async () => {
    const alerts = await collect(client, 'alerts/hq/warning');
    await client.publishAsync('zones/hq/vault/armed', 'true', { qos: 1, retain: true });
    await waitFor(() => gw.gateway.rules.state.isArmed('hq', 'vault'), 'the vault armed');
    const quiet = await publish('sensors/hq/office/door-1/contact', true);
    const loud = await publish('sensors/hq/vault/door-2/contact', true);
    const alert = await alerts.next();
    expect(correlation(alert)).toBe(loud);
    expect(correlation(alert)).not.toBe(quiet);
    expect(alert.json()).toMatchObject({ type: 'security.intrusion', source: 'rules/intrusion-door', data: { severity: 'warning', message: 'door-2 opened in armed zone hq/vault' } });
  });

  it('on smoke: a critical alert, HVAC off in every zone of the site, and no cooling while it lasts', async () => {
    const hvac = await collect(client, 'commands/plant/+/hvac');
    const critical = await collect(client, 'alerts/plant/critical');
    const hot1 = await publish('sensors/plant/z1/t1/temperature', 30);
    const hot2 = await publish('sensors/plant/z2/t2/temperature', 30);
    await hvac.next((m) => correlation(m) === hot1);
    await hvac.next((m) => correlation(m) === hot2);
    const smoke = await publish('sensors/plant/z1/smk-1/smoke', true);
    expect((await critical.next()).json()).toMatchObject({ correlationid: smoke, data: { severity: 'critical' } });
    const offs = await waitFor(() => {
      const list = hvac.messages.filter((m) => correlation(m) === smoke);
      return list.length === 2 ? list : undefined;
    }, 'HVAC off in both zones');
    expect(offs.map((m) => m.topic).sort()).toEqual(['commands/plant/z1/hvac', 'commands/plant/z2/hvac']);
    for (const m of offs) expect(m.json()).toMatchObject({ data: { mode: 'off' } });
    const during = await publish('sensors/plant/z2/t2/temperature', 33);
    await publish('sensors/plant/z1/smk-1/smoke', false);
    const after = await publish('sensors/plant/z2/t2/temperature', 34);
    // HVAC's minimum off time (3 minutes) holds the cooling back until it is up.
    await advance(3 * 60_000);
    const next = await hvac.next((m) => ![hot1, hot2, smoke].includes(correlation(m)));
    expect(correlation(next)).toBe(after);
    expect(correlation(next)).not.toBe(during);
    expect(next.json()).toMatchObject({ source: 'rules/hvac-cool', data: { mode: 'cool' } });
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_commands_deferred_total\{actuator="hvac"\} [1-9]/m);
    expect(metrics).toMatch(/^gateway_rule_wakeups_total\{type="retry"\} [1-9]/m);
    expect(metrics).toMatch(/^gateway_rule_timers \d+/m);
  });

  it('says once, in an info line, that an off is held back by the minimum on time, and until when', async () => {
    const hvac = await collect(client, 'commands/mill/m1/hvac');
    const hot = await publish('sensors/mill/m1/t1/temperature', 30);
    expect(correlation(await hvac.next())).toBe(hot);
    // Cool enough to stop one minute later: held back until five minutes after it started.
    await advance(60_000);
    const startedAt = clock.now() - 60_000;
    await publish('sensors/mill/m1/t1/temperature', 23);
    await publish('sensors/mill/m1/t1/temperature', 22.5);
    await gw.gateway.rules.idle();
    const lines = gw.logs.filter((l) => l['target'] === 'mill/m1/hvac' && l['holding'] === 'on');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, rule: 'hvac-cool-done', data: { mode: 'off' }, until: new Date(startedAt + 5 * 60_000).toISOString() });
    expect(lines[0]!.msg).toMatch(/^mill\/m1\/hvac stays on until \d\d:\d\d:\d\d \(minimum on time 5m00s\): \{"mode":"off"\} by hvac-cool-done is held back, and the rules run again then$/);
    // The line came before the off it announced.
    await advance(4 * 60_000);
    expect((await hvac.next((m) => m.json<{ data: { mode: string } }>().data.mode === 'off')).json()).toMatchObject({ source: 'rules/hvac-cool-done' });
  });

  it('arms a zone through the API: stored in zone_state, listed on /api/zones, in force for the rules', async () => {
    const alerts = await collect(client, 'alerts/hq/warning');
    gw.gateway.rules.setArmed('hq', 'archive', true);
    const door = await publish('sensors/hq/archive/door-7/contact', true);
    expect(correlation(await alerts.next((m) => correlation(m) === door))).toBe(door);
    const zones = (await (await fetch(`${gw.httpUrl}/api/zones`)).json()) as { zones: { site: string; zone: string; armed: boolean }[] };
    expect(zones.zones).toContainEqual({ site: 'hq', zone: 'archive', armed: true });
    await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT armed FROM zone_state WHERE site='hq' AND zone='archive'`)).length === 1, 'zone_state in InfluxDB');
  });
});

describe('rule files', () => {
  it('reloads a changed file, and keeps the rules in force when a file is broken', async () => {
    const hvac = await collect(client, 'commands/lab/+/hvac');
    const file = join(rulesDir, 'hvac.json');
    const original = await readFile(file, 'utf8');
    // 'rules in force' is logged once the reloaded rules are the ones readings run through.
    const inForceBefore = gw.logs.filter((l) => l.msg === 'rules in force').length;
    expect(original).toContain('"operator": "greaterThan", "value": 28');
    await writeFile(file, original.replace('"operator": "greaterThan", "value": 28', '"operator": "greaterThan", "value": 30'));
    await waitFor(() => gw.logs.filter((l) => l.msg === 'rules in force').length > inForceBefore, 'the reload');

    const warm = await publish('sensors/lab/a/t/temperature', 29);
    const hot = await publish('sensors/lab/a/t/temperature', 31);
    expect(correlation(await hvac.next())).toBe(hot);
    expect(hvac.messages.map(correlation)).not.toContain(warm);

    // Complete but broken (one cut short is read again until it has been still for 2 s: a save in progress).
    await writeFile(file, '{ "rules": [ { "name": "oops", } ] }');
    const rejected = await waitFor(() => gw.logs.find((l) => l['code'] === 'GW_ERR_RULE_FILE'), 'the rejection in the log');
    expect(rejected['file']).toMatch(/hvac\.json$/);
    expect(String(rejected['err'])).toMatch(/hvac\.json: not valid JSON: .* line 1, column \d+/);
    expect(rejected['rulesKept']).toBe((JSON.parse(original) as { rules: unknown[] }).rules.length);
    // Ready (the rules in force run), but degraded, naming the file; and counted for alerting.
    const readyz = await fetch(`${gw.httpUrl}/readyz`);
    expect(readyz.status).toBe(200);
    const ready = (await readyz.json()) as { status: string; checks: { rules: { ok: boolean; detail: string; files: string[] } } };
    expect(ready.status).toBe('degraded');
    expect(ready.checks.rules).toMatchObject({ ok: false, files: [join(rulesDir, 'hvac.json')] });
    expect(ready.checks.rules.detail).toContain('hvac.json');
    expect((await scrape(gw.httpUrl)).value('gateway_rule_files_rejected')).toBe(1);

    // The rules in force stay: the 30 °C threshold of the last good version.
    await publish('sensors/lab/b/t/temperature', 29.5);
    const stillHot = await publish('sensors/lab/b/t/temperature', 31);
    expect(correlation(await hvac.next((m) => m.topic === 'commands/lab/b/hvac'))).toBe(stillHot);
    await writeFile(file, original);
    await waitFor(async () => ((await (await fetch(`${gw.httpUrl}/readyz`)).json()) as { status: string }).status === 'ready', 'rules healthy again');
    expect((await scrape(gw.httpUrl)).value('gateway_rule_files_rejected')).toBe(0);
  });
});
