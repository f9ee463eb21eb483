/**
 * Native devices across a restart: `GET /api/devices` and the live page say the same of each
 * placed device after a restart as before it, from the stored `device_status` points and readings,
 * before any device speaks again: online and reporting; offline by its availability (its last
 * will); online but silent; and one that never said (online unknown on both).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import type { DeviceView } from '../../gateway/devices/registry.js';
import type { DeviceState, LiveSnapshot } from '../../gateway/http/live.js';
import { advanceRules, type TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

const m = 60_000;
const NATIVE = ['n_on', 'n_off', 'n_mute', 'n_quiet'] as const;
const MAP = { devices: Object.fromEntries(NATIVE.map((id) => [`zigbee2mqtt:${id}`, { site: 'hq', zone: 'nz' }])) };

let dataDir: string;
const db = uniqueDb('restart_native');
let clock: ManualClock;
let gw: TestGateway;
let z2m: MqttClient;

const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);
const temperature = (id: string, value: number) => z2m.publishAsync(`zigbee2mqtt/${id}`, JSON.stringify({ temperature: value }), { qos: 1 });
const availability = (id: string, state: 'online' | 'offline') => z2m.publishAsync(`zigbee2mqtt/${id}/availability`, JSON.stringify({ state }), { qos: 1 });

/** What each side says of the four devices: online, silent and last seen. */
async function both(): Promise<{ api: Record<string, Pick<DeviceView, 'online' | 'silent' | 'lastSeen' | 'placements'>>; live: Record<string, DeviceState> }> {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: DeviceView[] };
  const live = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
  return {
    api: Object.fromEntries(api.devices.filter((d) => d.family === 'zigbee2mqtt').map((d) => [d.nativeId, { online: d.online, silent: d.silent, lastSeen: d.lastSeen, placements: d.placements }])),
    live: Object.fromEntries(live.devices.map((d) => [d.device, d])),
  };
}

async function start(at: number): Promise<void> {
  clock = new ManualClock(at);
  gw = await startWithMap(MAP, { clock, dataDir, db, env: { STATS_INTERVAL_MS: '0', OFFLINE_AFTER_MS: String(5 * m) } });
}

let before: Awaited<ReturnType<typeof both>>;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-native-'));
  await start(Date.now());
  z2m = await connect(gw.mqttUrl, { clientId: 'z2m-bridge' });
  for (const id of ['n_on', 'n_off', 'n_mute'] as const) await availability(id, 'online');
  for (const [i, id] of NATIVE.entries()) await temperature(id, 20 + i);
  await advance(1 * m);
  await availability('n_off', 'offline');
  await advance(3 * m);
  await temperature('n_on', 25);
  // n_mute and n_quiet say nothing more: silent 5 minutes after their reading.
  await advance(2 * m + 30_000);
  await waitFor(async () => {
    const { live } = await both();
    return live['n_mute']?.silent === true && live['n_quiet']?.silent === true && live['n_off']?.online === false;
  }, 'n_mute and n_quiet silent, n_off offline');
  before = await both();
  expect(before.api).toMatchObject({ n_on: { online: true, silent: false }, n_off: { online: false }, n_mute: { online: true, silent: true }, n_quiet: { online: null, silent: true } });
  expect(before.live).toMatchObject({ n_on: { online: true }, n_off: { online: false }, n_mute: { online: true, silent: true }, n_quiet: { online: null, silent: true } });
  await z2m.endAsync(true);
  const at = clock.now();
  await gw.stop();
  await start(at);
});

afterAll(async () => {
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('after a restart, before any native device speaks again', () => {
  it('GET /api/devices lists each placed device with its online state and last seen as stored', async () => {
    const { api } = await both();
    for (const id of NATIVE) expect(api[id], id).toEqual(before.api[id]);
  });

  it('the live page shows each as before the restart: online, offline by its availability, online but silent, unknown but silent', async () => {
    const { live } = await both();
    const seen = (d: DeviceState | undefined) => ({ online: d?.online, silent: d?.silent ?? false, lastSeen: d?.lastSeen });
    for (const id of NATIVE) expect(seen(live[id]), id).toEqual(seen(before.live[id]));
  });

  it('the two agree on online and silent', async () => {
    const { api, live } = await both();
    for (const id of NATIVE) expect(api[id]?.online, id).toBe(live[id]?.online);
    for (const id of NATIVE) expect(api[id]?.silent, id).toBe(live[id]?.silent ?? false);
  });

  it('a silent device that speaks again is silent no more on either', async () => {
    const again = await connect(gw.mqttUrl, { clientId: 'z2m-bridge' });
    await again.publishAsync('zigbee2mqtt/n_mute', JSON.stringify({ temperature: 21.5 }), { qos: 1 });
    await waitFor(async () => {
      const { api, live } = await both();
      return api['n_mute']?.silent === false && live['n_mute']?.silent !== true;
    }, 'n_mute talking again on /api/devices and the live page');
    const { api } = await both();
    expect(api['n_quiet']?.silent).toBe(true);
    await again.endAsync(true);
  });
});
