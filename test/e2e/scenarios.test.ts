/**
 * `npm run simulate -- --scenario …` as a user runs it (the CLI as a real process) against a
 * real gateway with the shipped rules, with several --devices: each scenario brings the devices
 * it needs, shows what it is about, and leaves the building as it found it.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveSnapshot } from '../../gateway/http/live.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { rows } from '../helpers/influx.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let client: MqttClient;
let alerts: Awaited<ReturnType<typeof collect>>;
let commands: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  gw = await startGateway();
  client = await connect(gw.mqttUrl, { clientId: 'scenario-watch' });
  alerts = await collect(client, 'alerts/#');
  commands = await collect(client, 'commands/#');
});
afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
});

interface Summary {
  devices: number;
  sent: number;
  acknowledged: number;
  added: string[];
  restored: string[];
}

async function simulate(scenario: string, devices: number, prefix: string, ...extra: string[]): Promise<Summary> {
  // Enough readings for every device to send several (a smoke detector reports smoke from its fourth).
  const count = String(Math.max(60, (devices + 2) * 6));
  const run = await runTs('simulators/cli.ts', ['--url', gw.mqttUrl, '--scenario', scenario, '--devices', String(devices), '--count', count, '--rate', '0', '--prefix', prefix, '--seed', '5', '--json', ...extra]);
  expect(run.code, run.stderr).toBe(0);
  await gw.gateway.rules.idle();
  return JSON.parse(run.stdout) as Summary;
}

const alertData = (m: { json<T>(): T }) => m.json<{ source: string; data: { device: string; zone: string; site: string } }>();
const zones = async () => ((await (await fetch(`${gw.httpUrl}/api/zones`)).json()) as { zones: { site: string; zone: string; armed: boolean }[] }).zones;
const live = async () => (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
/** Firings counted by the active intrusion alarms of site1/z1. */
const intrusionFirings = async () =>
  ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: { rule: string; site: string; zone: string; count: number }[] }).alarms
    .filter((a) => a.rule.startsWith('intrusion-') && a.site === 'site1' && a.zone === 'z1')
    .reduce((n, a) => n + a.count, 0);

/**
 * The last contact reading of every door of the run, in InfluxDB: closed (0). Acknowledged means
 * spooled: the sink may not have written the closing readings yet when the simulator exits.
 */
async function expectDoorsClosed(prefix: string): Promise<void> {
  const lastOf = () => rows(gw.influxUrl, gw.db, `SELECT last("value") FROM "contact" WHERE "device" =~ /^${prefix}-/ GROUP BY "device"`);
  const last = await waitFor(async () => {
    const now = await lastOf();
    return now.length > 0 && now.every((r) => r['last'] === 0) ? now : undefined;
  }, 'every door closed in InfluxDB').catch(() => lastOf());
  expect(last.length).toBeGreaterThan(0);
  expect(last.map((r) => r['last'])).toEqual(last.map(() => 0));
}

describe('npm run simulate -- --scenario intrusion', () => {
  it.each([1, 7, 50])('with --devices %i: alerts from a door or motion sensor in the armed zone, then disarms it', async (devices) => {
    const prefix = `intr${devices}`;
    const before = await intrusionFirings();
    const summary = await simulate('intrusion', devices, prefix);
    const ours = alerts.messages.filter((m) => alertData(m).data.device.startsWith(`${prefix}-`));
    const intrusions = ours.filter((m) => ['rules/intrusion-door', 'rules/intrusion-motion'].includes(alertData(m).source));
    // The zone's intrusion alarm is raised once (one notification), then updated by the next runs' doors and motion.
    const updates = (await intrusionFirings()) - before;
    expect(intrusions.length + Math.max(0, updates), `alerts: ${ours.map((m) => alertData(m).source).join(', ')}`).toBeGreaterThanOrEqual(1);
    for (const m of intrusions) expect(alertData(m).data).toMatchObject({ site: 'site1', zone: 'z1' });
    expect(summary.restored[0]).toBe('disarmed site1/z1');
    expect(await zones()).toContainEqual({ site: 'site1', zone: 'z1', armed: false });
    await expectDoorsClosed(prefix);
    if (devices === 50) expect(summary.added).toEqual([`${prefix}-door-51`, `${prefix}-motion-52`]);
  });

  it('leaves no armed zone behind: a later door in site1/z1 raises no intrusion alert', async () => {
    await simulate('intrusion', 5, 'intr-later');
    const door = `later-door-${Date.now()}`;
    await client.publishAsync('sensors/site1/z1/later-door/contact', JSON.stringify({ value: true, id: door }), { qos: 1 });
    // A smoke alarm after it, in another site: its alert comes after any the door raised.
    const smoke = `later-smoke-${Date.now()}`;
    await client.publishAsync('sensors/elsewhere/z9/later-smoke/smoke', JSON.stringify({ value: true, id: smoke }), { qos: 1 });
    await alerts.next((m) => m.json<{ correlationid: string }>().correlationid === smoke);
    // Only intrusion counts: after hours (by the machine's clock) the door also raises an info `security.after-hours`.
    expect(alerts.messages.filter((m) => m.json<{ correlationid: string; type: string }>().correlationid === door && m.json<{ type: string }>().type !== 'security.after-hours')).toEqual([]);
  });

  it('with --no-restore, keeps the zone armed', async () => {
    const summary = await simulate('intrusion', 3, 'intr-keep', '--no-restore');
    expect(summary.restored).toEqual([]);
    expect(await zones()).toContainEqual({ site: 'site1', zone: 'z1', armed: true });
    gw.gateway.rules.setArmed('site1', 'z1', false);
  });
});

describe('npm run simulate -- --scenario fire', () => {
  it.each([1, 7, 50])('with --devices %i: a critical smoke alert in site1/z1 and HVAC off, then smoke clear again', async (devices) => {
    const prefix = `fire${devices}`;
    const summary = await simulate('fire', devices, prefix);
    const smoke = alerts.messages.filter((m) => alertData(m).source === 'rules/smoke-alarm' && alertData(m).data.device.startsWith(`${prefix}-`));
    expect(smoke.length).toBeGreaterThanOrEqual(1);
    expect(alertData(smoke[0]!).data).toMatchObject({ site: 'site1', zone: 'z1' });
    expect(commands.messages.some((m) => m.topic === 'commands/site1/z1/hvac' && m.json<{ data: { mode: string } }>().data.mode === 'off')).toBe(true);
    expect(summary.restored[0]).toBe('smoke cleared and temperatures normal in site1/z1');
    const detectors = (await live()).devices.filter((d) => d.device.startsWith(`${prefix}-smoke`));
    expect(detectors.length).toBeGreaterThanOrEqual(1);
    for (const d of detectors) expect(d.readings['smoke']?.value, d.device).toBe(false);
  });
});

describe('npm run simulate -- --scenario heatwave', () => {
  it.each([1, 3, 50])('with --devices %i: a thermostat in site1/z1, and every device says offline at the end', async (devices) => {
    const prefix = `heat${devices}`;
    const summary = await simulate('heatwave', devices, prefix);
    expect(summary.acknowledged).toBe(summary.sent);
    const state = await live();
    const ours = state.devices.filter((d) => d.device.startsWith(`${prefix}-`));
    expect(ours.some((d) => d.site === 'site1' && d.zone === 'z1' && d.readings['temperature'] !== undefined)).toBe(true);
    expect(ours).toHaveLength(summary.devices);
    for (const d of ours) expect(d.online, d.device).toBe(false);
  });
});
