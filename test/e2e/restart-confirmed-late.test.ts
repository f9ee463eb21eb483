/**
 * A command confirmed late (the actuator reported exactly the commanded state after
 * `actuator_unresponsive`) is still confirmed after a restart: rebuilt from the stored `failed`,
 * then `confirmed` status and the report (rules/commands.ts' restoreStatus), /api/actuators says
 * `confirmed` since the confirming report, and the rules hold the state as known from then: the
 * HVAC's minimum on time counts from that report, so a reading that wants it off waits for it.
 *
 * A real gateway on a manual clock, restarted on the same DATA_DIR and database; real InfluxDB;
 * a simulated contract actuator (a real MQTT client) that answers only when told.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { simulateActuator, type SimActuator } from '../../simulators/actuators.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const s = 1000;
const db = uniqueDb('restart_confirmed_late');
const SETTINGS = { STATS_INTERVAL_MS: '0' };
let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
let sim: SimActuator | undefined;
let commanded: Record<string, unknown>;
let confirmedAt: number;

interface ActuatorJson {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly data?: Record<string, unknown>;
  readonly since?: number | null;
  readonly status: string;
}

const view = async (): Promise<ActuatorJson | undefined> =>
  ((await (await fetch(`${gw.httpUrl}/api/actuators`)).json()) as { actuators: ActuatorJson[] }).actuators.find((a) => a.site === 'hq' && a.zone === 'f8' && a.actuator === 'hvac');

async function statuses(): Promise<string[]> {
    // "status" is a tag: a field ("attempt") must be selected too.
  const found = await rows(gw.influxUrl, gw.db, `SELECT "status", "attempt" FROM "command_status" WHERE "zone" = 'f8'`);
  return found.map((r) => String(r['status']));
}

async function hvac(initial?: Record<string, unknown>): Promise<SimActuator> {
  sim = await simulateActuator({ url: gw.mqttUrl, site: 'hq', zone: 'f8', actuator: 'hvac', behaviour: { kind: 'manual' }, ...(initial ? { initial } : {}) });
  await waitFor(() => gw.gateway.rules.runtime.commands.reports('hq/f8/hvac'), 'hq/f8/hvac\'s report');
  return sim;
}

async function temperature(value: number, id: string): Promise<void> {
  const sensor = await connect(gw.mqttUrl, { clientId: `f8-sensor-${id}` });
  await sensor.publishAsync('sensors/hq/f8/t8/temperature', JSON.stringify({ value, id }), { qos: 1 });
  await sensor.endAsync();
}

const deferred = async (): Promise<number> => (await scrape(gw.httpUrl)).value('gateway_commands_deferred_total', { actuator: 'hvac' });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-confirmed-late-'));
  clock = new ManualClock(Date.now());
  gw = await startGateway({ clock, dataDir, db, env: SETTINGS });
  const slow = await hvac();
  await temperature(31, 'hot');
  commanded = (await slow.nextCommand()).data;
  for (const wait of [10, 20]) {
    await advanceRules(gw, clock, wait * s);
    await slow.nextCommand();
  }
  await advanceRules(gw, clock, 40 * s);
  await waitFor(async () => (await view())?.status === 'unresponsive', 'actuator_unresponsive');
  await slow.apply();
  confirmedAt = clock.now();
  await waitFor(async () => (await view())?.status === 'confirmed', 'confirmed late');
  await waitFor(async () => (await statuses()).includes('confirmed'), 'the late confirmation in InfluxDB');
  await slow.stop();
  sim = undefined;
  const at = clock.now() + 2 * s;
  await gw.stop();
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, db, env: SETTINGS });
}, 120_000);

afterAll(async () => {
  await sim?.stop().catch(() => undefined);
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a command confirmed late, after a restart', () => {
  it('is still confirmed, since the confirming report (not untracked, not unresponsive)', async () => {
    expect(gw.gateway.rules.rebuildResult).toMatchObject({ ok: true });
    expect(await statuses()).toEqual(['sent', 'retried', 'retried', 'failed', 'confirmed']);
    expect(await view()).toMatchObject({ status: 'confirmed', data: commanded, since: confirmedAt });
  });

  it('counts the minimum on time from the confirming report: off waits for it, then goes', async () => {
    const slow = await hvac(commanded);
    await temperature(22, 'cool-enough');
    await waitFor(async () => (await deferred()) === 1, 'the off command held back by the minimum on time');
    expect(slow.received).toEqual([]);
    await advanceRules(gw, clock, confirmedAt + 5 * 60 * s - clock.now());
    expect((await slow.nextCommand()).data).toEqual({ mode: 'off' });
  });
});
