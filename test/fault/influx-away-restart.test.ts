/**
 * A gateway restarted while InfluxDB is away keeps what its rules knew (the local snapshot,
 * DATA_DIR/rules-state.json): a real influxd of the test's own, a real gateway on a manual clock
 * with a critical smoke alarm (acknowledged), a command waiting for its confirmation and an HVAC
 * within its minimum on time; influxd stopped; the gateway stopped and started again on the same
 * DATA_DIR. The alarm is still listed, the command still waits and is resent, then escalates; the
 * HVAC is still held on; once influxd is back /readyz says where the rules started from, not that
 * InfluxDB does not answer.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { startInfluxd, type InfluxdProcess } from '../../gateway/storage/influxd.js';
import { simulateActuator, type SimActuator } from '../../simulators/actuators.js';
import { useCleanup } from '../helpers/cleanup.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();
const s = 1000;
const SETTINGS = { STATS_INTERVAL_MS: '0', INFLUX_TIMEOUT_MS: '2000' };

interface AlarmJson {
  readonly id: string;
  readonly rule: string;
  readonly zone: string;
  readonly acknowledged: boolean;
  readonly acknowledgedBy?: string;
}
interface ActuatorJson {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly data?: Record<string, unknown>;
  readonly status: string;
}
interface ReadyJson {
  readonly status: string;
  readonly checks: { influxdb: { ok: boolean; detail: string }; rules: { ok: boolean; detail?: string } };
}

let influx: InfluxdProcess;
let dataDir: string;
let clock: ManualClock;
let gw: TestGateway;
const sims: SimActuator[] = [];
let firstCommand: string;
let smokeId: string;
let keptWhileRunning = false;

const get = async <T>(path: string): Promise<T> => (await (await fetch(`${gw.httpUrl}${path}`)).json()) as T;
const alarms = async (): Promise<AlarmJson[]> => (await get<{ alarms: AlarmJson[] }>('/api/alarms')).alarms;
const actuator = async (zone: string): Promise<ActuatorJson | undefined> => (await get<{ actuators: ActuatorJson[] }>('/api/actuators')).actuators.find((a) => a.site === 'hq' && a.zone === zone && a.actuator === 'hvac');
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);

async function hvac(zone: string, behaviour: SimActuator['behaviour'], initial?: Record<string, unknown>): Promise<SimActuator> {
  const sim = await simulateActuator({ url: gw.mqttUrl, site: 'hq', zone, actuator: 'hvac', behaviour, ...(initial ? { initial } : {}) });
  sims.push(sim);
  await waitFor(() => gw.gateway.rules.runtime.commands.reports(`hq/${zone}/hvac`), `hq/${zone}/hvac's report`);
  return sim;
}

async function deferred(): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('gateway_commands_deferred_total{actuator="hvac"}'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

beforeAll(async () => {
  const influxDir = await mkdtemp(join(tmpdir(), 'gw-away-restart-influx-'));
  dataDir = await mkdtemp(join(tmpdir(), 'gw-away-restart-'));
  defer(() => rm(influxDir, { recursive: true, force: true }));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  influx = await startInfluxd({ dataDir: influxDir });
  defer(() => influx.stop());
  const t0 = Date.now();
  clock = new ManualClock(t0);
  gw = await startGateway({ clock, dataDir, influxUrl: influx.url, env: SETTINGS });
  const ignoring = await hvac('f1', { kind: 'ignore' });
  const cooling = await hvac('f3', { kind: 'confirm' });
  const sensor = await connect(gw.mqttUrl, { clientId: 'away-restart-sensor' });
  await sensor.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 31 }), { qos: 1 });
  firstCommand = (await ignoring.nextCommand()).id;
  await sensor.publishAsync('sensors/hq/f3/t3/temperature', JSON.stringify({ value: 31 }), { qos: 1 });
  await cooling.nextCommand();
  await waitFor(async () => (await actuator('f3'))?.status === 'confirmed', 'hq/f3/hvac cooling, confirmed');
  await sensor.publishAsync('sensors/lab/x1/smk-1/smoke', JSON.stringify({ value: true }), { qos: 1 });
  await sensor.endAsync();
  smokeId = (await waitFor(async () => (await alarms()).find((a) => a.rule === 'smoke-alarm'), 'the smoke alarm')).id;
  expect((await fetch(`${gw.httpUrl}/api/alarms/${smokeId}/ack`, { method: 'POST', body: JSON.stringify({ by: 'ops', note: 'on my way' }) })).status).toBe(200);
  await advance(3 * s);
  // Kept while it runs (a crash loses at most a few seconds), not only at a clean stop.
  keptWhileRunning = await waitFor(async () => {
    const text = await readFile(join(dataDir, 'rules-state.json'), 'utf8').catch(() => '');
    return text.includes(firstCommand) && text.includes(smokeId) && text.includes('\\"acknowledged\\":true');
  }, 'the rules\' state in DATA_DIR/rules-state.json', 20_000).then(
    () => true,
    () => false,
  );
  for (const sim of sims.splice(0)) await sim.stop();
  // InfluxDB goes away, then the gateway restarts (two seconds later on its clock: the command still waits).
  await influx.stop();
  const at = clock.now() + 2 * s;
  await gw.stop();
  clock = new ManualClock(at);
  gw = await startGateway({ clock, dataDir, influxUrl: influx.url, env: SETTINGS });
}, 120_000);

afterAll(async () => {
  for (const sim of sims) await sim.stop().catch(() => undefined);
  await gw?.stop();
});

describe('a gateway restarted while InfluxDB is away', () => {
  it('kept the rules\' state in DATA_DIR/rules-state.json while it ran', () => {
    expect(keptWhileRunning).toBe(true);
  });

  it('still lists the active alarm, acknowledged, and the command waiting for its confirmation', async () => {
    expect(gw.gateway.rules.rebuildResult).toMatchObject({ ok: false });
    expect(await alarms()).toEqual([expect.objectContaining({ id: smokeId, rule: 'smoke-alarm', acknowledged: true, acknowledgedBy: expect.stringMatching(/^ops/) })]);
    expect(await actuator('f1')).toMatchObject({ status: 'pending', data: { mode: 'cool', setpoint: 22 } });
    expect(await actuator('f3')).toMatchObject({ status: 'confirmed', data: { mode: 'cool', setpoint: 22 } });
    const ready = await get<ReadyJson>('/readyz');
    expect(ready.status).toBe('not ready');
    expect(ready.checks.rules.detail).toMatch(/^started without history \(GW_ERR_HISTORY\): .*does not answer.*; from the local snapshot of .*1 alarms active, 1 commands waiting, \d+ actuators\) instead$/);
  });

  it('resends the waiting command as it would have, then raises actuator_unresponsive', async () => {
    const ignoring = await hvac('f1', { kind: 'ignore' });
    await advance(10 * s);
    const again = await ignoring.nextCommand();
    expect(again.id).toBe(firstCommand);
    await advance(20 * s);
    await advance(40 * s);
    await waitFor(async () => (await alarms()).some((a) => a.rule === 'actuator_unresponsive' && a.zone === 'f1'), 'actuator_unresponsive for hq/f1/hvac');
    expect(await actuator('f1')).toMatchObject({ status: 'unresponsive' });
  });

  it('holds the HVAC on for its minimum on time, then switches it off', async () => {
    const cooling = await hvac('f3', { kind: 'confirm' }, { mode: 'cool', setpoint: 22 });
    const sensor = await connect(gw.mqttUrl, { clientId: 'away-restart-sensor-2' });
    await sensor.publishAsync('sensors/hq/f3/t3/temperature', JSON.stringify({ value: 22 }), { qos: 1 });
    await sensor.endAsync();
    await waitFor(async () => (await deferred()) === 1, 'the off command held back by the minimum on time');
    await advance(5 * 60 * s);
    expect((await cooling.nextCommand()).data).toEqual({ mode: 'off' });
  });

  it('once InfluxDB is back, /readyz says the rules started from the local snapshot, not that InfluxDB does not answer', { timeout: 60_000 }, async () => {
    const again = await startInfluxd({ dataDir: influx.dataDir, port: influx.port });
    defer(() => again.stop());
    const ready = await waitFor(async () => {
      const r = await get<ReadyJson>('/readyz');
      return r.checks.influxdb.ok ? r : undefined;
    }, 'InfluxDB reachable again', 30_000);
    expect(ready.checks.rules.ok).toBe(false);
    expect(ready.checks.rules.detail).toMatch(/^started from the local snapshot of .*it answers now\): .*a restart rebuilds them from the history$/);
    expect(ready.checks.rules.detail).not.toMatch(/does not answer/);
    expect((await alarms()).map((a) => a.id)).toContain(smokeId);
  });
});
