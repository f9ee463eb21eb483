/**
 * Guessing a keypad code, bounded (README "Keypads"): after KEYPAD_LOCKOUT_FAILURES wrong codes at
 * one keypad the gateway, as its alarm panel, refuses its presses without checking them for
 * KEYPAD_LOCKOUT_MS, then twice as long after a further wrong code; a right code after the lockout
 * clears it. Before, each wrong code was answered at once, without limit. A real broker, a real
 * client as Zigbee2MQTT, the gateway's manual clock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { connectPacket, DISCONNECT, publishPacket, rawConnect } from '../helpers/raw-mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

const PIN = '40917253';
const WRONG = '86420975';

let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
let z2m: MqttClient;
let sets: Awaited<ReturnType<typeof collect>>;
let transaction = 0;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-test-keypad-lockout-'));
  const added = await runTs('gateway/cli/keypad-codes.ts', ['--file', join(dataDir, 'keypad-codes.json'), 'add', 'front-door'], {}, `${PIN}\n`);
  expect(added.code, added.stderr).toBe(0);
  clock = new ManualClock(Date.now());
  gw = await startWithMap({ devices: { 'zigbee2mqtt:porch_keypad': { site: 'hq', zone: 'porch' }, 'zigbee2mqtt:hall_keypad': { site: 'hq', zone: 'hall' } } }, { dataDir, clock, env: { STATS_INTERVAL_MS: '0', KEYPAD_MAX_QUEUED_CHECKS: '2', KEYPAD_EXIT_DELAY_MS: '0' } });
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  sets = await collect(z2m, 'zigbee2mqtt/+/set');
});
afterAll(async () => {
  await z2m?.endAsync();
  await gw?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A press at the keypad: the mode it is answered with. */
async function press(keypad: string, action: string, code: string): Promise<string> {
  const t = ++transaction % 256;
  await z2m.publishAsync(`zigbee2mqtt/${keypad}`, JSON.stringify({ action, action_code: code, action_transaction: t, action_zone: 0, battery: 87 }), { qos: 1 });
  const answer = await sets.next((m) => m.topic === `zigbee2mqtt/${keypad}/set` && m.json<{ arm_mode?: { transaction?: number } }>().arm_mode?.transaction === t);
  return answer.json<{ arm_mode: { mode: string } }>().arm_mode.mode;
}
const armed = async (zone: string) => ((await (await fetch(`${gw.httpUrl}/api/zones`)).json()) as { zones: { site: string; zone: string; armed: boolean }[] }).zones.find((z) => z.site === 'hq' && z.zone === zone)?.armed;
const lockedOutMetric = async () => Number(/^gateway_keypad_refusals_total\{reason="locked_out"\} (\d+)/m.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1] ?? 0);
const refusedUnchecked = () => gw.logs.filter((l) => l.msg.startsWith('keypad locked out after wrong codes')).length;

describe('keypad presses coming faster than their codes can be checked', () => {
  it('answers those beyond KEYPAD_MAX_QUEUED_CHECKS not_ready, unchecked, and counts them', async () => {
    // Five presses in one socket write, so one read: two find a place among the checks, three do not.
    const raw = await rawConnect(Number(new URL(gw.mqttUrl).port));
    await raw.write(connectPacket('zigbee2mqtt_burst'));
    await raw.waitFor(4);
    const ts = [201, 202, 203, 204, 205];
    const body = (t: number) => JSON.stringify({ action: 'arm_all_zones', action_code: PIN, action_transaction: t, action_zone: 0 });
    await raw.write(Buffer.concat(ts.map((t) => publishPacket('zigbee2mqtt/hall_keypad', body(t)))));
    const modes = await Promise.all(ts.map(async (t) => (await sets.next((m) => m.topic === 'zigbee2mqtt/hall_keypad/set' && m.json<{ arm_mode?: { transaction?: number } }>().arm_mode?.transaction === t)).json<{ arm_mode: { mode: string } }>().arm_mode.mode));
    await raw.write(DISCONNECT);
    expect(modes).toEqual(['arm_all_zones', 'arm_all_zones', 'not_ready', 'not_ready', 'not_ready']);
    expect(Number(/^gateway_keypad_refusals_total\{reason="checks_queued"\} (\d+)/m.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1])).toBe(3);
    expect(gw.logs.some((l) => l.msg.startsWith('keypad presses are coming faster') && l['device'] === 'hall_keypad')).toBe(true);
  });
});

describe('a keypad where codes are being guessed', () => {
  it('is locked out after 5 wrong codes: even the right code is refused unchecked, other keypads are not', async () => {
    for (let i = 0; i < 5; i++) expect(await press('porch_keypad', 'arm_all_zones', WRONG)).toBe('invalid_code');
    expect(gw.logs.some((l) => l.msg.startsWith('keypads locked out: too many wrong codes') && l['lockoutS'] === 60)).toBe(true);
    expect(await press('porch_keypad', 'arm_all_zones', PIN)).toBe('invalid_code');
    expect(await armed('porch')).not.toBe(true);
    expect(refusedUnchecked()).toBe(1);
    expect(await lockedOutMetric()).toBe(1);
    expect(gw.logs.some((l) => l.msg === 'zone armed at its keypad' && l['device'] === 'porch_keypad')).toBe(false);
    // The refused press is a keypad fail reading, as a wrong code is.
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM keypad WHERE device = 'porch_keypad' AND value = 0`).then((x) => (x.length === 6 ? x : undefined)), 'six keypad fail readings');
    expect(await press('hall_keypad', 'arm_all_zones', PIN)).toBe('arm_all_zones');
  });

  it('takes the right code once the lockout is over, which clears the count', async () => {
    await advanceRules(gw, clock, 59_000);
    expect(await press('porch_keypad', 'arm_all_zones', PIN)).toBe('invalid_code');
    await advanceRules(gw, clock, 1_000);
    expect(await press('porch_keypad', 'arm_all_zones', PIN)).toBe('arm_all_zones');
    await waitFor(async () => (await armed('porch')) === true || undefined, 'hq/porch armed');
    // Cleared: four wrong codes are not a lockout.
    for (let i = 0; i < 4; i++) expect(await press('porch_keypad', 'disarm', WRONG)).toBe('invalid_code');
    expect(await press('porch_keypad', 'disarm', PIN)).toBe('disarm');
  });

  it('locks out twice as long for a wrong code after a lockout', async () => {
    for (let i = 0; i < 5; i++) expect(await press('porch_keypad', 'arm_all_zones', WRONG)).toBe('invalid_code');
    await advanceRules(gw, clock, 60_000);
    expect(await press('porch_keypad', 'arm_all_zones', WRONG)).toBe('invalid_code');
    expect(gw.logs.some((l) => l.msg.startsWith('keypads locked out: too many wrong codes') && l['lockoutS'] === 120)).toBe(true);
    await advanceRules(gw, clock, 119_000);
    const before = refusedUnchecked();
    expect(await press('porch_keypad', 'arm_all_zones', PIN)).toBe('invalid_code');
    expect(refusedUnchecked()).toBe(before + 1);
    await advanceRules(gw, clock, 1_000);
    expect(await press('porch_keypad', 'arm_all_zones', PIN)).toBe('arm_all_zones');
  });
});
