/** The shipped rule packs and rule reloading, through a real gateway. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let rulesDir: string;
let client: MqttClient;
let seq = 0;

async function publish(topic: string, value: unknown): Promise<string> {
  const id = `r${++seq}`;
  await client.publishAsync(topic, JSON.stringify({ value, id }), { qos: 1 });
  return id;
}
const correlation = (m: { json<T>(): T }) => m.json<{ correlationid: string }>().correlationid;

beforeAll(async () => {
  rulesDir = await mkdtemp(join(tmpdir(), 'gw-rules-'));
  await cp(REPO_RULES, rulesDir, { recursive: true });
  gw = await startGateway({ rulesDir });
  client = await connect(gw.mqttUrl, { clientId: 'rules-test' });
});
afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(rulesDir, { recursive: true, force: true });
});

describe('lighting', () => {
  it('turns the lights on when a dark zone becomes occupied, and off when it empties', async () => {
    const lights = await collect(client, 'commands/hq/lobby/lights');
    await publish('sensors/hq/lobby/lux-1/illuminance', 20);
    const on = await publish('sensors/hq/lobby/occ-1/occupancy', true);
    expect((await lights.next((m) => correlation(m) === on)).json()).toMatchObject({ type: 'lights.set', data: { state: 'on' } });
    const off = await publish('sensors/hq/lobby/occ-1/occupancy', false);
    expect((await lights.next((m) => correlation(m) === off)).json()).toMatchObject({ data: { state: 'off' } });
  });

  it('does not turn lights on for motion in a bright zone', async () => {
    const lights = await collect(client, 'commands/hq/atrium/lights');
    await publish('sensors/hq/atrium/lux-2/illuminance', 450);
    await publish('sensors/hq/atrium/pir-2/motion', true);
    const dark = await publish('sensors/hq/atrium/lux-2/illuminance', 50);
    await publish('sensors/hq/atrium/occ-2/occupancy', true);
    // The first lights command is the one for the occupied dark zone, not the bright motion.
    const first = await lights.next();
    expect(first.json()).toMatchObject({ data: { state: 'on' } });
    expect(correlation(first)).not.toBe(dark);
    expect(first.json<{ source: string }>().source).toBe('rules/lights-on-occupied');
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
    const next = await hvac.next((m) => ![hot1, hot2, smoke].includes(correlation(m)));
    expect(correlation(next)).toBe(after);
    expect(correlation(next)).not.toBe(during);
  });
});

describe('rule files', () => {
  it('reloads a changed file, and keeps the rules in force when a file is broken', async () => {
    const hvac = await collect(client, 'commands/lab/+/hvac');
    const file = join(rulesDir, 'hvac.json');
    const original = await readFile(file, 'utf8');
    const loadedBefore = gw.logs.filter((l) => l.msg === 'rule file loaded').length;
    await writeFile(file, original.replace('"operator": "greaterThan", "value": 26', '"operator": "greaterThan", "value": 28'));
    await waitFor(() => gw.logs.filter((l) => l.msg === 'rule file loaded').length > loadedBefore, 'the reload');

    const warm = await publish('sensors/lab/a/t/temperature', 27);
    const hot = await publish('sensors/lab/a/t/temperature', 29);
    expect(correlation(await hvac.next())).toBe(hot);
    expect(hvac.messages.map(correlation)).not.toContain(warm);

    await writeFile(file, '{ "rules": [ { "name": "oops", ');
    const rejected = await waitFor(() => gw.logs.find((l) => l['code'] === 'GW_ERR_RULE_FILE'), 'the rejection in the log');
    expect(rejected['file']).toMatch(/hvac\.json$/);
    expect(String(rejected['err'])).toMatch(/hvac\.json: not valid JSON: .* line 1, column \d+/);
    expect(rejected['rulesKept']).toBe(3);
    const ready = (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as { checks: { rules: { ok: boolean; detail: string } } };
    expect(ready.checks.rules).toMatchObject({ ok: false });
    expect(ready.checks.rules.detail).toContain('hvac.json');

    // The rules in force stay: the 28 °C threshold of the last good version.
    const stillHot = await publish('sensors/lab/b/t/temperature', 29);
    expect(correlation(await hvac.next((m) => m.topic === 'commands/lab/b/hvac'))).toBe(stillHot);
    await writeFile(file, original);
    await waitFor(async () => ((await (await fetch(`${gw.httpUrl}/readyz`)).json()) as { checks: { rules: { ok: boolean } } }).checks.rules.ok, 'rules healthy again');
  });
});
