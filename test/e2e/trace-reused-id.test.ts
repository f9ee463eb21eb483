/**
 * A device that reuses a reading id (its counter restarted: the same id with other content) has
 * every such reading stored; the trace of that id shows them all and says the id was reused. It
 * showed one reading while InfluxDB held four (outside tester).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trace } from '../../gateway/rules/trace.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

let gw: TestGateway;
let device: MqttClient;

const traceOf = async (id: string): Promise<Trace> => (await (await fetch(`${gw.httpUrl}/api/trace/${encodeURIComponent(id)}`)).json()) as Trace;
const stored = (id: string): Promise<Record<string, unknown>[]> => rows(gw.influxUrl, gw.db, `SELECT "value" FROM "temperature" WHERE "event_id" = '${id}'`);

beforeAll(async () => {
  gw = await startGateway({ env: { STATS_INTERVAL_MS: '0' } });
  device = await connect(gw.mqttUrl, { clientId: 'reuse-test' });
});
afterAll(async () => {
  await device?.endAsync();
  await gw?.stop();
});

describe('the trace of a reused reading id', () => {
  it('shows every stored reading with that id, from InfluxDB, and says the id was reused', async () => {
    const t0 = Date.now() - 60_000;
    // Between the heating and cooling thresholds: no rule fires, so the trace is InfluxDB's.
    for (const [i, value] of [20, 21, 22, 23].entries()) await device.publishAsync('sensors/hq/f1/t-9/temperature', JSON.stringify({ value, id: 'r-17', ts: new Date(t0 + i * 1000).toISOString() }), { qos: 1 });
    await waitFor(() => stored('r-17').then((x) => x.length === 4), 'the four readings with id r-17 in InfluxDB');
    const t = await traceOf('r-17');
    expect(t).toMatchObject({ found: true, from: 'influxdb', reused: 4 });
    expect(t.steps.map((s) => (s.step === 'reading' ? s.value : s.step))).toEqual([20, 21, 22, 23]);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'gateway/cli/trace.ts', 'r-17', '--url', gw.httpUrl], { cwd: ROOT });
    expect(stdout).toContain('4 stored readings carry the id r-17');
  });

  it('answers from memory without asking InfluxDB (the chain memory keeps: the reading that fired), and from InfluxDB once memory has forgotten it', async () => {
    const t0 = Date.now() - 30_000;
    // Above 28 °C: hvac-cool commands, a chain the gateway keeps in memory; the reuses fire nothing new.
    for (const [i, value] of [30, 20, 21].entries()) await device.publishAsync('sensors/hq/f2/t-8/temperature', JSON.stringify({ value, id: 'r-5', ts: new Date(t0 + i * 1000).toISOString() }), { qos: 1 });
    await waitFor(() => stored('r-5').then((x) => x.length === 3), 'the three readings with id r-5 in InfluxDB');
    await gw.gateway.rules.idle();
    const t = await traceOf('r-5');
    expect(t).toMatchObject({ found: true, from: 'memory' });
    expect(t.steps.filter((s) => s.step === 'reading').map((s) => (s.step === 'reading' ? s.value : undefined))).toEqual([30]);
    expect(t.steps.some((s) => s.step === 'command')).toBe(true);
  });
});
