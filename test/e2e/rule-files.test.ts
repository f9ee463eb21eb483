/**
 * RULES_DIR as it is deployed, through a real gateway (broker, spool, InfluxDB) and its own
 * watcher: a directory created after the start, and a Kubernetes ConfigMap volume, whose files
 * are links into a `..data` link that each update points at a new directory.
 */
import { mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let client: MqttClient;
let parent: string;
let rulesDir: string;

interface Ready {
  status: string;
  checks: { rules: { ok: boolean; detail?: string; files?: string[] } };
}
const readyz = async (): Promise<Ready> => (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as Ready;

/** What the kubelet does for each version of a ConfigMap in `dir`: a new directory, `..data` renamed onto it, the old one removed. */
async function configMapVersion(dir: string, version: number, files: Record<string, string>): Promise<void> {
  const stamped = (v: number) => `..2026_01_0${v}_00_00_00.${v}`;
  await mkdir(join(dir, stamped(version)));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, stamped(version), name), text);
  await symlink(stamped(version), join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (version > 1) await rm(join(dir, stamped(version - 1)), { recursive: true });
}

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'gw-rule-files-'));
  rulesDir = join(parent, 'rules');
  gw = await startGateway({ rulesDir });
  client = await connect(gw.mqttUrl, { clientId: 'rule-files-test' });
});
afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
  await rm(parent, { recursive: true, force: true });
});

describe('RULES_DIR as deployed', () => {
  it('says that no rules are in force while RULES_DIR is missing, and loads the packs of a ConfigMap volume once it appears', async () => {
    const missing = `no rule files in ${rulesDir}: no rules in force (the directory does not exist)`;
    expect(gw.logs.find((l) => l.level === 40 && l.msg === missing)).toMatchObject({ component: 'rules', dir: rulesDir });
    expect(await readyz()).toMatchObject({ status: 'degraded', checks: { rules: { ok: false, detail: missing } } });

    // The volume appears with its files (links into ..data), all at once, as a mount does.
    const staging = join(parent, 'staging');
    await mkdir(staging);
    await configMapVersion(staging, 1, { 'hvac.json': await readFile(join(SIMPLE_RULES, 'hvac.json'), 'utf8') });
    await symlink('..data/hvac.json', join(staging, 'hvac.json'));
    await rename(staging, rulesDir);
    await waitFor(async () => (await readyz()).status === 'ready', 'the rules of the directory created after the start');

    const hvac = await collect(client, 'commands/lab/+/hvac');
    await client.publishAsync('sensors/lab/a/t1/temperature', JSON.stringify({ value: 31 }), { qos: 1 });
    expect((await hvac.next()).json()).toMatchObject({ type: 'hvac.set', data: { mode: 'cool' } });
  });

  it('reloads when the ConfigMap is updated, and forgets a rejected file once the update removes it', async () => {
    const good = await readFile(join(SIMPLE_RULES, 'hvac.json'), 'utf8');
    await configMapVersion(rulesDir, 2, { 'hvac.json': good, 'bad.json': '{ "rules": [,] }' });
    await symlink('..data/bad.json', join(rulesDir, 'bad.json'));
    await waitFor(async () => (await readyz()).checks.rules.files?.length === 1, 'the broken file of the update rejected');
    expect(await readyz()).toMatchObject({ status: 'degraded', checks: { rules: { ok: false, files: [join(rulesDir, 'bad.json')] } } });
    expect((await scrape(gw.httpUrl)).value('gateway_rule_files_rejected')).toBe(1);

    // The next version drops bad.json and changes hvac.json: both are seen, through the ..data swap alone.
    await configMapVersion(rulesDir, 3, { 'hvac.json': good.replace('"greaterThan", "value": 26', '"greaterThan", "value": 40') });
    await unlink(join(rulesDir, 'bad.json'));
    await waitFor(async () => (await readyz()).status === 'ready', 'the rejection of the removed file cleared');
    expect((await scrape(gw.httpUrl)).value('gateway_rule_files_rejected')).toBe(0);

    // Version 3 is in force: 31 °C no longer cools, 41 °C does.
    const hvac = await collect(client, 'commands/lab/+/hvac');
    await client.publishAsync('sensors/lab/b/t1/temperature', JSON.stringify({ value: 31 }), { qos: 1 });
    const hot = JSON.stringify({ value: 41, id: 'hot-41' });
    await client.publishAsync('sensors/lab/b/t1/temperature', hot, { qos: 1 });
    expect((await hvac.next()).json()).toMatchObject({ correlationid: 'hot-41', data: { mode: 'cool' } });
  });
});
