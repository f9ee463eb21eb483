/**
 * The live page in a real browser: headless Chromium (Debian's, installed by scripts/setup.sh)
 * driven by playwright-core, against a real gateway fed by the simulator and a real device.
 * Saves a screenshot (test-results/live-page.png, or LIVE_PAGE_SCREENSHOT).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../simulators/simulator.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

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
    await runSimulation({ url: gw.mqttUrl, devices: 12, sites: 1, zonesPerSite: 4, rate: 0, count: 120, scenario, seed: 7, prefix: scenario === 'normal' ? 'hq' : scenario });
  }
  // One zone of its own for the fire, with its smoke detector in it.
  await runSimulation({ url: gw.mqttUrl, devices: 11, sites: 1, zonesPerSite: 1, rate: 0, count: 60, scenario: 'fire', seed: 7, prefix: 'fire' });
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
});
