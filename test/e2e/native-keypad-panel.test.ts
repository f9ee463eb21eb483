/**
 * The gateway as a Zigbee2MQTT keypad's alarm panel. The keypad (Develco/Frient KEPZB-110,
 * Centralite 3400-D, Linkind…: zigbee-herdsman-converters fromZigbee `command_arm_with_transaction`)
 * checks no code: Zigbee2MQTT publishes `{"action":"arm_all_zones","action_code":"…",
 * "action_zone":0,"action_transaction":99,…}` with the rest of the device's state, and the panel
 * answers on `<name>/set` with `{"arm_mode":{"transaction":99,"mode":…}}` (toZigbee `arm_mode`:
 * disarm, arm_*_zones, invalid_code, not_ready, already_disarmed), then may set the panel's state
 * with `{"arm_mode":{"mode":…}}`. A real broker, a real client as Zigbee2MQTT, real InfluxDB.
 */
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { query, rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

const PIN = '40917253';
const WRONG = '86420975';
const PIN_HALL = '5551234';

let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
let z2m: MqttClient;
let sets: Awaited<ReturnType<typeof collect>>;
let letters: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-test-keypad-'));
  // As an operator would: the code on stdin, scoped to the porch.
  const added = await runTs('gateway/cli/keypad-codes.ts', ['--file', join(dataDir, 'keypad-codes.json'), 'add', 'front-door', '--zones', 'hq/porch'], {}, `${PIN}\n`);
  expect(added.code, added.stderr).toBe(0);
  expect(added.stdout).not.toContain(PIN);
  const hall = await runTs('gateway/cli/keypad-codes.ts', ['--file', join(dataDir, 'keypad-codes.json'), 'add', 'hall', '--zones', 'hq/hall'], {}, `${PIN_HALL}\n`);
  expect(hall.code, hall.stderr).toBe(0);
  clock = new ManualClock(Date.now());
  gw = await startWithMap({ devices: { 'zigbee2mqtt:porch_keypad': { site: 'hq', zone: 'porch' }, 'zigbee2mqtt:hall_keypad': { site: 'hq', zone: 'hall' } } }, { dataDir, clock, env: { STATS_INTERVAL_MS: '0' } });
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  sets = await collect(z2m, 'zigbee2mqtt/+/set');
  letters = await collect(z2m, 'gateway/deadletter');
});
afterAll(async () => {
  await z2m?.endAsync();
  await gw?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** What Zigbee2MQTT publishes for a KEPZB-110's arm command: the action keys with the device's cached state. */
const press = (keypad: string, action: string, code: string, transaction: number, qos: 0 | 1 = 0) =>
  z2m.publishAsync(`zigbee2mqtt/${keypad}`, JSON.stringify({ action, action_code: code, action_transaction: transaction, action_zone: 0, battery: 87, battery_low: false, linkquality: 120, tamper: false, voltage: 3900 }), { qos });

const answer = (keypad: string, transaction: number) => sets.next((m) => m.topic === `zigbee2mqtt/${keypad}/set` && m.json<{ arm_mode?: { transaction?: number } }>().arm_mode?.transaction === transaction);
const zones = async () => ((await (await fetch(`${gw.httpUrl}/api/zones`)).json()) as { zones: { site: string; zone: string; armed: boolean }[] }).zones;
const armed = async (zone: string) => (await zones()).find((z) => z.site === 'hq' && z.zone === zone)?.armed;

describe('a Zigbee2MQTT keypad, with the gateway as its alarm panel', () => {
  it('arms its zone on the right code once its exit delay is over: answers with the mode and the same transaction, shows exit_delay, then the armed state', async () => {
    const panelState = (mode: string) => sets.next((m) => m.topic === 'zigbee2mqtt/porch_keypad/set' && JSON.stringify(m.json()) === JSON.stringify({ arm_mode: { mode } }));
    await press('porch_keypad', 'arm_all_zones', PIN, 99);
    expect((await answer('porch_keypad', 99)).json()).toEqual({ arm_mode: { transaction: 99, mode: 'arm_all_zones' } });
    // KEYPAD_EXIT_DELAY_MS (30 s): the way out, the keypad counting it down; not armed yet.
    await panelState('exit_delay');
    expect(await armed('porch')).not.toBe(true);
    await advanceRules(gw, clock, 29_000);
    expect(await armed('porch')).not.toBe(true);
    await advanceRules(gw, clock, 1_000);
    await panelState('arm_all_zones');
    await waitFor(async () => (await armed('porch')) === true || undefined, 'hq/porch armed');
    expect(gw.logs.some((l) => l.msg === 'zone armed at its keypad, its exit delay over')).toBe(true);
    const [ok] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM keypad WHERE device = 'porch_keypad'`).then((x) => (x.length ? x : undefined)), 'the keypad ok reading');
    expect(ok!['value']).toBe(1);
    const [zoneState] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT * FROM zone_state WHERE zone = 'porch'`).then((x) => (x.length ? x : undefined)), 'the zone_state point');
    expect(zoneState).toBeDefined();
  });

  it('ends an exit delay on a right disarming code: the zone is never armed', async () => {
    await press('hall_keypad', 'arm_all_zones', PIN_HALL, 50);
    expect((await answer('hall_keypad', 50)).json()).toEqual({ arm_mode: { transaction: 50, mode: 'arm_all_zones' } });
    await advanceRules(gw, clock, 10_000);
    await press('hall_keypad', 'disarm', PIN_HALL, 51);
    expect((await answer('hall_keypad', 51)).json()).toEqual({ arm_mode: { transaction: 51, mode: 'disarm' } });
    await advanceRules(gw, clock, 60_000);
    expect(await armed('hall')).not.toBe(true);
    expect(gw.logs.filter((l) => l.msg === 'zone armed at its keypad, its exit delay over')).toHaveLength(1);
  });

  it('ends an exit delay on a disarm from elsewhere (the zone’s topic: Home Assistant, an app): the delay does not arm the zone after it', async () => {
    await press('hall_keypad', 'arm_all_zones', PIN_HALL, 60);
    expect((await answer('hall_keypad', 60)).json()).toEqual({ arm_mode: { transaction: 60, mode: 'arm_all_zones' } });
    await advanceRules(gw, clock, 10_000);
    await z2m.publishAsync('zones/hq/hall/armed', 'false', { qos: 1 });
    await advanceRules(gw, clock, 60_000);
    expect(await armed('hall')).toBe(false);
    expect(gw.logs.filter((l) => l.msg === 'zone armed at its keypad, its exit delay over')).toHaveLength(1);
  });

  it('refuses a wrong code with invalid_code and disarms nothing; three in a minute raise the security alert', async () => {
    const alerts = await collect(z2m, 'alerts/#');
    for (const t of [100, 101, 102]) {
      await press('porch_keypad', 'disarm', WRONG, t);
      expect((await answer('porch_keypad', t)).json()).toEqual({ arm_mode: { transaction: t, mode: 'invalid_code' } });
    }
    const alert = await alerts.next((m) => m.payload.includes('security.keypad'), 10_000);
    expect(alert.topic).toBe('alerts/hq/warning');
    expect(alert.json<{ data: { device: string; zone: string } }>().data).toMatchObject({ device: 'porch_keypad', zone: 'porch' });
    expect(await armed('porch')).toBe(true);
    const fails = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM keypad WHERE device = 'porch_keypad' AND value = 0`).then((x) => (x.length >= 3 ? x : undefined)), 'three keypad fail readings');
    expect(fails).toHaveLength(3);
  });

  it('refuses a code at a keypad of a zone the code is not for', async () => {
    await press('hall_keypad', 'arm_all_zones', PIN, 7);
    expect((await answer('hall_keypad', 7)).json()).toEqual({ arm_mode: { transaction: 7, mode: 'invalid_code' } });
    expect(await armed('hall')).not.toBe(true);
  });

  it('disarms on the right code (published at QoS 1, as with Zigbee2MQTT’s qos option)', async () => {
    await press('porch_keypad', 'disarm', PIN, 103, 1);
    expect((await answer('porch_keypad', 103)).json()).toEqual({ arm_mode: { transaction: 103, mode: 'disarm' } });
    await waitFor(async () => (await armed('porch')) === false || undefined, 'hq/porch disarmed');
  });

  it('keeps no code Zigbee2MQTT sends on its own topic (its `output: attribute`: one topic a key, the bare value)', async () => {
    // zigbee2mqtt controller.ts iteratePayloadAttributeOutput: `<name>/<key>`, a string or number as text.
    // The bridge says so in bridge/info (lib/extension/bridge.ts publishInfo: the settings, defaults merged).
    await z2m.publishAsync('zigbee2mqtt/bridge/info', JSON.stringify({ version: '2.1.3', commit: 'a1b2c3d', config: { advanced: { output: 'attribute' } } }), { qos: 1 });
    const before = letters.messages.length;
    // Acknowledged at QoS 1 once read: what the gateway kept of them is there by then. The garage's is on no map.
    await z2m.publishAsync('zigbee2mqtt/porch_keypad/action', 'arm_all_zones', { qos: 1 });
    await z2m.publishAsync('zigbee2mqtt/porch_keypad/action_code', PIN, { qos: 1 });
    await z2m.publishAsync('zigbee2mqtt/garage_keypad/action_code', Buffer.from(WRONG), { qos: 1 });
    const letter = await letters.next((l) => l.payload.includes('garage_keypad'), 10_000);
    expect(letter.payload).not.toMatch(new RegExp(`${PIN}|${WRONG}`));
    const devices = await (await fetch(`${gw.httpUrl}/api/devices`)).text();
    expect(devices).toContain('porch_keypad');
    expect(devices).not.toMatch(new RegExp(`${PIN}|${WRONG}`));
    expect(letters.messages.slice(before).map((l) => l.payload).join()).not.toMatch(new RegExp(`${PIN}|${WRONG}`));
    expect(await armed('porch')).toBe(false);
    await z2m.publishAsync('zigbee2mqtt/bridge/info', JSON.stringify({ version: '2.1.3', commit: 'a1b2c3d', config: { advanced: { output: 'json' } } }), { qos: 1 });
  });

  it('keeps no code anywhere: InfluxDB, dead letters, the log, DATA_DIR', async () => {
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM keypad WHERE device = 'porch_keypad'`).then((x) => (x.length >= 5 ? x : undefined)), 'every keypad reading stored');
    const [series] = await query(gw.influxUrl, gw.db, 'SHOW MEASUREMENTS');
    const measurements = (series?.values ?? []).map((v) => String(v[0]));
    expect(measurements).toContain('keypad');
    for (const m of measurements) {
      const stored = JSON.stringify(await query(gw.influxUrl, gw.db, `SELECT * FROM "${m}"`));
      expect(stored, m).not.toContain(PIN);
      expect(stored, m).not.toContain(WRONG);
      expect(stored, m).not.toContain(PIN_HALL);
    }
    for (const l of letters.messages) expect(l.payload).not.toMatch(new RegExp(`${PIN}|${WRONG}`));
    expect(JSON.stringify(gw.logs)).not.toMatch(new RegExp(`${PIN}|${WRONG}`));
    expect(gw.logs.some((l) => l.msg.startsWith('zone arming at its keypad') && l['by'] === 'front-door' && l['exitDelayS'] === 30)).toBe(true);
    const files = await walk(dataDir);
    expect(files.map((f) => f.name)).toContain(join(dataDir, 'keypad-codes.json'));
    for (const f of files) expect(f.text.includes(PIN) || f.text.includes(WRONG), f.name).toBe(false);
    expect((await stat(join(dataDir, 'keypad-codes.json'))).mode & 0o777).toBe(0o600);
  });
});

async function walk(dir: string): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const name = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(name)));
    else if (e.isFile()) out.push({ name, text: (await readFile(name)).toString('latin1') });
  }
  return out;
}
