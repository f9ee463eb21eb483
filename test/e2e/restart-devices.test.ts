/**
 * Devices' liveness across a restart: a real gateway on a manual clock, stopped and started again
 * on the same DATA_DIR and InfluxDB database, shows each device as it was (offline by its last
 * will, online, silent) from the stored `device_status` points, before any device speaks again;
 * and a smoke detector that said offline before the restart raises no "silent" alert after it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import type { DeviceState, LiveSnapshot } from '../../gateway/http/live.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const m = 60_000;

let dataDir: string;
const db = uniqueDb('restart_devices');
let clock: ManualClock;
let gw: TestGateway;
let t0: number;
const clients: MqttClient[] = [];

async function device(id: string, will = false): Promise<MqttClient> {
  const c = await connect(gw.mqttUrl, { clientId: id, ...(will ? { will: { topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } } : {}) });
  clients.push(c);
  return c;
}
const reading = (c: MqttClient, topic: string, value: unknown, id: string) => c.publishAsync(topic, JSON.stringify({ value, id }), { qos: 1 });
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);
const devices = async (): Promise<Record<string, DeviceState>> => {
  const state = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
  return Object.fromEntries(state.devices.map((d) => [d.device, d]));
};

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, db, env: { STATS_INTERVAL_MS: '0', OFFLINE_AFTER_MS: String(5 * m) } });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-devices-'));
  t0 = Date.now();
  await start(t0);
  // smk-off says online, reports, then dies (its last will: offline); smk-on keeps reporting;
  // t-mute reports once and then says nothing (silent after 5 minutes).
  const off = await device('smk-off', true);
  const on = await device('smk-on');
  const mute = await device('t-mute');
  for (const [c, id] of [[off, 'smk-off'], [on, 'smk-on'], [mute, 't-mute']] as const) await c.publishAsync(`devices/${id}/status`, 'online', { qos: 1, retain: true });
  await reading(off, 'sensors/hq/f1/smk-off/smoke', false, 'off-1');
  await reading(on, 'sensors/hq/f1/smk-on/smoke', false, 'on-1');
  await reading(mute, 'sensors/hq/f2/t-mute/temperature', 21, 'mute-1');
  await advance(1 * m);
  off.stream.destroy(); // a crash: the broker publishes its will
  await waitFor(async () => (await devices())['smk-off']?.online === false, 'smk-off offline');
  await advance(3 * m);
  await reading(on, 'sensors/hq/f1/smk-on/smoke', false, 'on-2');
  await advance(2 * m + 30_000);
  await waitFor(async () => (await devices())['t-mute']?.silent === true, 't-mute silent');
  const before = await devices();
  expect([before['smk-off']?.online, before['smk-on']?.online, before['t-mute']?.silent]).toEqual([false, true, true]);
  await restart();
});

async function restart(): Promise<void> {
  for (const c of clients.splice(0)) await c.endAsync(true);
  const at = clock.now();
  await gw.stop();
  await start(at);
}

afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after a restart, before any device speaks again', () => {
  it('shows the device whose last will said offline as offline, the one that said online as online, and the silent one as silent', async () => {
    const d = await devices();
    expect(d['smk-off']).toMatchObject({ online: false, site: 'hq', zone: 'f1' });
    expect(d['smk-off']?.silent).toBeFalsy();
    expect(d['smk-on']).toMatchObject({ online: true, site: 'hq', zone: 'f1', readings: { smoke: { value: false } } });
    expect(d['smk-on']?.silent).toBeFalsy();
    expect(d['t-mute']).toMatchObject({ online: true, silent: true, site: 'hq', zone: 'f2' });
  });

  it('read them from InfluxDB in the rebuild, and says how many', () => {
    const line = gw.logs.find((l) => l.msg.startsWith('rules state rebuilt'));
    expect(line?.['counts']).toMatchObject({ deviceStatus: 4, deviceSilence: 1 });
  });
});

describe('after a restart, as devices speak or stay quiet', () => {
  it('takes the silent device back when it reports, as usual', async () => {
    const mute = await device('t-mute');
    await reading(mute, 'sensors/hq/f2/t-mute/temperature', 22, 'mute-2');
    const d = await waitFor(async () => ((await devices())['t-mute']?.silent === false ? devices() : undefined), 't-mute heard again');
    expect(d['t-mute']).toMatchObject({ online: true, readings: { temperature: { value: 22 } } });
  });

  it('calls a device silent that stays quiet after the restart, but not the one that said offline', async () => {
    await advance(5 * m + 30_000);
    const d = await devices();
    expect(d['smk-on']?.silent).toBe(true);
    expect(d['smk-off']).toMatchObject({ online: false });
    expect(d['smk-off']?.silent).toBeFalsy();
  });

  it('raises the silent-smoke-detector alert for the detector that stopped talking, not for the one that said offline', async () => {
    const watcher = await connect(gw.mqttUrl, { clientId: 'restart-devices-watch' });
    clients.push(watcher);
    const alerts = await collect(watcher, 'alerts/#');
    // smk-off's last reading was at 0 (silent at 30 minutes), smk-on's at 4 minutes (34 minutes).
    await advance(t0 + 35 * m - clock.now());
    const silent = await alerts.next((a) => a.json<{ source: string }>().source === 'rules/smoke-detector-silent');
    expect(silent.json<{ data: { device: string } }>().data.device).toBe('smk-on');
    await waitFor(async () => (await rows(gw.influxUrl, db, `SELECT * FROM "alerts" WHERE "rule" = 'smoke-detector-silent'`)).length >= 1, 'the alert in InfluxDB');
    const stored = await rows(gw.influxUrl, db, `SELECT "message" FROM "alerts" WHERE "rule" = 'smoke-detector-silent'`);
    expect(stored.map((r) => r['message'])).toEqual(['smoke detector smk-on in hq/f1 silent for 30 minutes']);
  });
});

describe('a second restart', () => {
  it('shows a device online that said so before the rebuild window and reported within it (the last status of each device, whatever its age)', async () => {
    const pir = await device('pir-x');
    await pir.publishAsync('devices/pir-x/status', 'online', { qos: 1, retain: true });
    // 40 minutes of reports: its status is older than the rebuild window (31 minutes), its readings are in it.
    for (let i = 0; i < 10; i++) {
      await reading(pir, 'sensors/hq/f3/pir-x/motion', false, `pir-${i}`);
      await advance(4 * m);
    }
    await restart();
    const line = gw.logs.find((l) => l.msg.startsWith('rules state rebuilt'));
    expect(Number(line?.['spanMs'])).toBeLessThan(40 * m);
    const d = await devices();
    expect(d['pir-x']).toMatchObject({ online: true, site: 'hq', zone: 'f3' });
    expect(d['pir-x']?.silent).toBeFalsy();
  });
});

describe('a third restart', () => {
  it('shows online as the device last said it, before the restart and after: unknown for one that never said, even once heard again after a silence; online for one whose status is older than its last silence', async () => {
    // nos-x never says a status; sil-x says online. Both report, go silent, and are heard again.
    const nos = await device('nos-x');
    const sil = await device('sil-x');
    await sil.publishAsync('devices/sil-x/status', 'online', { qos: 1, retain: true });
    await reading(nos, 'sensors/hq/f4/nos-x/temperature', 20, 'nos-1');
    await reading(sil, 'sensors/hq/f4/sil-x/temperature', 20, 'sil-1');
    await advance(5 * m + 30_000);
    await waitFor(async () => (await devices())['sil-x']?.silent === true && (await devices())['nos-x']?.silent === true, 'both silent');
    // Their status and their silence end up before the next start's rebuild window (31 minutes).
    await advance(32 * m);
    await reading(nos, 'sensors/hq/f4/nos-x/temperature', 21, 'nos-2');
    await reading(sil, 'sensors/hq/f4/sil-x/temperature', 21, 'sil-2');
    await waitFor(async () => (await devices())['sil-x']?.silent === false && (await devices())['nos-x']?.silent === false, 'both heard again');
    const before = await devices();
    expect([before['nos-x']?.online, before['sil-x']?.online]).toEqual([null, true]);
    await advance(1000);
    await restart();
    const after = await devices();
    expect(after['nos-x']).toMatchObject({ online: null, site: 'hq', zone: 'f4' });
    expect(after['sil-x']).toMatchObject({ online: true, site: 'hq', zone: 'f4' });
    expect([after['nos-x']?.silent ?? false, after['sil-x']?.silent ?? false]).toEqual([false, false]);
  });
});
