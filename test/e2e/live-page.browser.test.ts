/**
 * The live page in a real browser: headless Chromium (Debian's, installed by scripts/setup.sh)
 * driven by playwright-core, against a real gateway fed by the simulator and a real device.
 * Saves a screenshot (test-results/live-page.png, or LIVE_PAGE_SCREENSHOT).
 */
import { cp, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../simulators/simulator.js';
import { addCredentials } from '../helpers/auth.js';
import { REPO_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT } from '../helpers/process.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOT = resolve(ROOT, process.env['LIVE_PAGE_SCREENSHOT'] ?? 'test-results/live-page.png');

let gw: TestGateway;
let device: MqttClient;
let profile: string;
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  gw = await startGateway({ env: { LIVE_PUSH_MS: '100' } });
  // A small building first, so the page (and the screenshot) shows zones, actuators and alerts.
  for (const scenario of ['normal', 'heatwave', 'intrusion'] as const) {
    // The intrusion leaves its zone armed, to be seen on the page; the devices stay online for the screenshot.
    await runSimulation({ url: gw.mqttUrl, devices: 12, sites: 1, zonesPerSite: 4, rate: 0, count: 120, scenario, seed: 7, prefix: scenario === 'normal' ? 'hq' : scenario, restore: false, sayOffline: false });
  }
  // One zone of its own for the fire, with its smoke detector in it.
  await runSimulation({ url: gw.mqttUrl, devices: 11, sites: 1, zonesPerSite: 1, rate: 0, count: 60, scenario: 'fire', seed: 7, prefix: 'fire', restore: false, sayOffline: false });
  device = await connect(gw.mqttUrl, { clientId: 'lobby-t1' });
  profile = await mkdtemp(join(tmpdir(), 'gw-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport: { width: 1440, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
});

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await device?.endAsync();
  await gw?.stop();
});

describe('the live page in Chromium', () => {
  it('shows a reading published while it is open, and the command it causes, and saves a screenshot', async () => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(gw.httpUrl);
    await page.locator('#conn[data-state="live"]').waitFor();
    // The simulated building arrived with the snapshot.
    expect(await page.locator('tr[data-device]').count()).toBeGreaterThanOrEqual(12);

    await device.publishAsync('devices/lobby-t1/status', 'online', { qos: 1 });
    await device.publishAsync('sensors/hq/lobby/lobby-t1/temperature', JSON.stringify({ value: 31, id: 'lobby-31' }), { qos: 1 });

    const row = page.locator('tr[data-device="lobby-t1"]');
    await expect.poll(() => row.locator('[data-kind="temperature"] .v').textContent()).toBe('31 °C');
    expect(await row.getAttribute('data-state')).toBe('online');
    const zone = page.locator('article.zone[data-zone="hq/lobby"]');
    await expect.poll(() => zone.locator('[data-actuator="hvac"]').textContent()).toBe('HVAC cool 22°C');
    await expect.poll(() => page.locator('#events li.command').first().textContent()).toContain('hvac in hq/lobby');
    // The intrusion run armed its zone; its alert is in the feed.
    expect(await page.locator('article.zone[data-zone="site1/z1"] [data-armed="true"]').count()).toBe(1);
    expect(await page.locator('#events li.alert.warning').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#events li.alert.critical').count()).toBeGreaterThanOrEqual(1);

    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(errors).toEqual([]);
  });

  it('lists a native device waiting for a zone, and shows what a native actuator reports beside what it was commanded', async () => {
    await writeFile(join(gw.dataDir, 'devices.yaml'), 'actuators:\n  hq/lobby/hvac: zigbee2mqtt:lobby_trv\n');
    await waitFor(async () => ((await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { map: { actuators: number } }).map.actuators === 1, 'the device map reloaded');
    await device.publishAsync('zigbee2mqtt/porch_sensor', JSON.stringify({ temperature: 9.5, linkquality: 80 }), { qos: 1 });
    await device.publishAsync('zigbee2mqtt/lobby_trv', JSON.stringify({ local_temperature: 24, system_mode: 'cool', occupied_cooling_setpoint: 22 }), { qos: 1 });
    const waiting = page.locator('#waiting li[data-device="zigbee2mqtt:porch_sensor"]');
    await expect.poll(() => waiting.count(), { timeout: 10_000 }).toBe(1);
    expect(await waiting.textContent()).toContain('temperature · 1 unmapped keys');
    const zone = page.locator('article.zone[data-zone="hq/lobby"]');
    await expect.poll(() => zone.locator('[data-reported="hvac"]').textContent()).toBe('hvac reports mode cool, setpoint 22');
  });

  it('takes a native device out of its zone at once when the map no longer places it (its card too, once empty)', async () => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const file = join(gw.dataDir, 'devices.yaml');
    const mapped = async (): Promise<number> => ((await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { map: { devices: number } }).map.devices;
    await writeFile(file, 'devices:\n  zigbee2mqtt:porch_sensor: { site: hq, zone: porch }\nactuators:\n  hq/lobby/hvac: zigbee2mqtt:lobby_trv\n');
    await waitFor(async () => (await mapped()) === 1, 'the device map reloaded');
    await device.publishAsync('zigbee2mqtt/porch_sensor', JSON.stringify({ temperature: 21 }), { qos: 1 });
    const card = page.locator('article.zone[data-zone="hq/porch"]');
    await expect.poll(() => card.locator('tr[data-device="porch_sensor"] [data-kind="temperature"] .v').textContent(), { timeout: 10_000 }).toBe('21 °C');

    await writeFile(file, 'actuators:\n  hq/lobby/hvac: zigbee2mqtt:lobby_trv\n');
    await expect.poll(() => page.locator('tr[data-device="porch_sensor"]').count(), { timeout: 10_000 }).toBe(0);
    expect(await card.count()).toBe(0);
    await expect.poll(() => page.locator('#waiting li[data-device="zigbee2mqtt:porch_sensor"]').count(), { timeout: 10_000 }).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe('the live page after a restart, and a device that falls silent', () => {
  it('shows a zone armed before the restart as armed from the first view, a device silent past OFFLINE_AFTER_MS as silent (and stores it), and an alarm whose rule is no longer loaded as such, with a Clear button', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-live-restart-'));
    const rulesDir = await mkdtemp(join(tmpdir(), 'gw-live-rules-'));
    const db = uniqueDb();
    try {
      await cp(REPO_RULES, rulesDir, { recursive: true });
      const first = await startGateway({ dataDir, db, rulesDir });
      const admin = await connect(first.mqttUrl, { clientId: 'vault-admin' });
      await admin.publishAsync('zones/hq/vault/armed', 'true', { qos: 1 });
      await admin.endAsync();
      // A smoke alarm, then its pack deleted while the gateway is stopped: restored without its rule.
      const detector = await connect(first.mqttUrl, { clientId: 'vault-sd1' });
      await detector.publishAsync('sensors/hq/vault/vault-sd1/smoke', JSON.stringify({ value: true, id: 'vault-smoke-1' }), { qos: 1 });
      await detector.endAsync();
      await waitFor(async () => (await rows(first.influxUrl, db, `SELECT * FROM "alarms" WHERE "zone" = 'vault'`)).length > 0, 'the smoke alarm stored');
      await first.gateway.rules.idle();
      await first.stop();
      await unlink(join(rulesDir, 'security.json'));

      const second = await startGateway({ dataDir, db, rulesDir, env: { LIVE_PUSH_MS: '100', OFFLINE_AFTER_MS: '1000' } });
      const view = await browser.newPage();
      try {
        await view.goto(second.httpUrl);
        await view.locator('#conn[data-state="live"]').waitFor();
        // The zone's card is there from the first view, with its badge, before any device reports.
        const card = view.locator('article.zone[data-zone="hq/vault"]');
        await card.waitFor();
        expect(await card.locator('[data-armed="true"]').count()).toBe(1);
        const sensor = await connect(second.mqttUrl, { clientId: 'vault-t1' });
        await sensor.publishAsync('sensors/hq/vault/vault-t1/temperature', JSON.stringify({ value: 19, id: 'vault-1' }), { qos: 1 });

        const row = view.locator('tr[data-device="vault-t1"]');
        await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('silent');
        expect(await row.locator('td.dev').getAttribute('title')).toMatch(/^silent: nothing heard since /);
        await waitFor(async () => (await rows(second.influxUrl, db, `SELECT online, silent FROM device_status WHERE device = 'vault-t1'`)).find((r) => r['silent'] === true && r['online'] === false), 'the silence in device_status');

        // Heard again: no longer silent.
        await sensor.publishAsync('sensors/hq/vault/vault-t1/temperature', JSON.stringify({ value: 19.5, id: 'vault-2' }), { qos: 1 });
        await expect.poll(() => row.getAttribute('data-state')).toBe('active');
        await sensor.endAsync();

        // The smoke alarm says it will not clear on its own, and its Clear button clears it.
        const stuck = view.locator('#alarms li[data-alarm-id]', { hasText: 'vault-sd1' });
        await expect.poll(() => stuck.locator('.not-loaded').textContent()).toContain('rule smoke-alarm is not loaded');
        const id = (await stuck.getAttribute('data-alarm-id'))!;
        await stuck.locator('button[data-clear]').click();
        await expect.poll(() => view.locator(`#alarms li[data-alarm-id="${id}"]`).count()).toBe(0);
        expect((await (await fetch(`${second.httpUrl}/api/alarms/${id}`)).json()) as { alarm: { state: string } }).toMatchObject({ alarm: { state: 'cleared' } });
      } finally {
        await view.close();
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(rulesDir, { recursive: true, force: true });
    }
  });
});

describe('the live page in Chromium, once credentials exist', () => {
  it('is refused without credentials (401, the challenge a browser asks with) and works with an observer’s, its event stream included', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-live-auth-'));
    const secrets = await addCredentials(dataDir, [
      { name: 'grafana', role: 'observer' },
      { name: 'ops', role: 'admin' },
    ]);
    const secured = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1', LIVE_PUSH_MS: '100' } });
    const chrome = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      // Headless, a browser cannot show the dialog (navigation fails on the challenge); the answer it gets:
      const refused = await fetch(secured.httpUrl);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="iot-gateway"/);
      await expect((await chrome.newPage()).goto(secured.httpUrl)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      // What a person types into the browser's dialog; the browser then sends it with every request of the page.
      const context = await chrome.newContext({ httpCredentials: { username: 'grafana', password: secrets['grafana']! } });
      const viewer = await context.newPage();
      expect((await viewer.goto(secured.httpUrl))?.status()).toBe(200);
      await viewer.locator('#conn[data-state="live"]').waitFor();
      const ops = await connect(secured.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'ops' });
      await ops.publishAsync('sensors/hq/secure/sec-t1/temperature', JSON.stringify({ value: 24, id: 'secured-24' }), { qos: 1 });
      await ops.endAsync();
      await expect.poll(() => viewer.locator('tr[data-device="sec-t1"] [data-kind="temperature"] .v').textContent()).toBe('24 °C');
    } finally {
      await chrome.close();
      await secured.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('alarms and actions on the live page', () => {
  it('lists the active alarms with an Acknowledge button, and arms a zone with its Arm button', async () => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(gw.httpUrl);
    await page.locator('#conn[data-state="live"]').waitFor();
    // The fire and the intrusion raised alarms.
    const alarm = page.locator('#alarms li[data-alarm-id]').first();
    await alarm.waitFor();
    const id = (await alarm.getAttribute('data-alarm-id'))!;
    expect(Number(await page.locator('#n-alarms').textContent())).toBeGreaterThanOrEqual(1);
    await alarm.locator('button[data-ack]').click();
    await expect.poll(() => page.locator(`#alarms li[data-alarm-id="${id}"]`).getAttribute('class')).toContain('acknowledged');
    expect((await (await fetch(`${gw.httpUrl}/api/alarms/${id}`)).json()) as { alarm: { acknowledged: boolean } }).toMatchObject({ alarm: { acknowledged: true } });

    const card = page.locator('article.zone[data-zone="hq/lobby"]');
    await card.locator('button[data-arm="true"]').click();
    await expect.poll(() => card.locator('[data-armed="true"]').count()).toBe(1);
    expect(gw.gateway.rules.state.isArmed('hq', 'lobby')).toBe(true);
    await card.locator('button[data-arm="false"]').click();
    await expect.poll(() => card.locator('[data-armed="true"]').count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
