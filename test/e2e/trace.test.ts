/**
 * The trace (issue 11): `npm run trace -- <reading id>` after the heatwave scenario (simulated
 * devices and simulated HVAC actuators that confirm) shows the whole chain — the reading, the rule
 * that fired with the facts that decided it, the command, its confirmation — with times and gaps;
 * from the gateway's memory, and from InfluxDB when no gateway answers. A command's id and an
 * alarm's id lead to their chains too.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateActuator, type SimActuator } from '../../simulators/actuators.js';
import { runSimulation } from '../../simulators/simulator.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const trace = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'gateway/cli/trace.ts', ...args], { cwd: ROOT }).then(
  (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
  (e: { code: number; stdout: string; stderr: string }) => e,
);

let gw: TestGateway;
const actuators: SimActuator[] = [];
let client: MqttClient;
let readingId: string;
let commandId: string;

beforeAll(async () => {
  gw = await startGateway({ env: { STATS_INTERVAL_MS: '0' } });
  // The heatwave's building: one site, two zones, each with an HVAC that confirms what it is told.
  for (const zone of ['z1', 'z2']) actuators.push(await simulateActuator({ url: gw.mqttUrl, site: 'site1', zone, actuator: 'hvac' }));
  await waitFor(() => actuators.every((a) => gw.gateway.rules.runtime.commands.reports(`site1/${a.device.split('-').at(-1)}/hvac`)), 'the actuators’ first reports');
  client = await connect(gw.mqttUrl, { clientId: 'trace-test' });
  await runSimulation({ url: gw.mqttUrl, devices: 11, sites: 1, zonesPerSite: 2, rate: 0, count: 120, scenario: 'heatwave', seed: 2, prefix: 'heat', scenarioStartedAt: Date.now() - 6 * 60_000 });
  await gw.gateway.rules.idle();
  const cool = await waitFor(async () => {
    const found = await rows(gw.influxUrl, gw.db, `SELECT "event_id", "correlation_id", "zone" FROM "commands" WHERE "rule" = 'hvac-cool'`);
    return found[0];
  }, 'a cooling command in InfluxDB');
  readingId = String(cool['correlation_id']);
  commandId = String(cool['event_id']);
  await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT "attempt" FROM "command_status" WHERE "command_id" = '${commandId}' AND "status" = 'confirmed'`)).length === 1, 'the confirmation in InfluxDB', 30_000);
});

afterAll(async () => {
  for (const a of actuators) await a.stop().catch(() => undefined);
  await client?.endAsync();
  await gw?.stop();
});

describe('npm run trace', () => {
  it('shows the heatwave chain of a reading from the gateway: reading → firing with its facts → command → confirmation, with times and gaps', async () => {
    const { code, stdout } = await trace([readingId, '--url', gw.httpUrl]);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe(`trace of ${readingId} (from memory)`);
    const steps = lines.slice(1).map((l) => l.trim().split(/\s{2,}/));
    expect(steps.map((s) => s.find((p) => /^(reading|rule|command|sent|confirmed)$/.test(p)))).toEqual(['reading', 'rule', 'command', 'sent', 'confirmed']);
    expect(lines[1]).toMatch(new RegExp(`reading\\s+${readingId}  site1/z\\d/heat-thermostat-\\d+ temperature = \\d+(\\.\\d+)?`));
    expect(stdout).toMatch(/rule\s+hvac-cool fired: value = \d+(\.\d+)? greaterThan 28 ✓; anyInSite\(kind smoke\) = false equal false ✓/);
    expect(stdout).toMatch(new RegExp(`command\\s+${commandId}  commands/site1/z\\d/hvac \\{"mode":"cool","setpoint":22\\} \\(hvac-cool\\)`));
    expect(stdout).toMatch(/confirmed\s+command \S+, reported \{"mode":"cool","setpoint":22\} — after \d+ ms/);
    // Every step after the first has its gap to the one before.
    expect(lines.slice(2).every((l) => /Z\s+\+\d+(ms|\.\d+s)/.test(l))).toBe(true);
  });

  it('finds the same chain from a command’s id, and as JSON', async () => {
    const { stdout } = await trace([commandId, '--url', gw.httpUrl, '--json']);
    const json = JSON.parse(stdout) as { found: boolean; root: string; steps: { step: string }[] };
    expect(json).toMatchObject({ found: true, root: readingId });
    expect(json.steps.map((s) => s.step)).toEqual(['reading', 'firing', 'command', 'status', 'status']);
  });

  it('reads InfluxDB when no gateway answers: the same chain, the facts stored with the command', async () => {
    const { code, stdout, stderr } = await trace([readingId, '--url', 'http://127.0.0.1:9', '--influx', gw.influxUrl, '--db', gw.db]);
    expect(code).toBe(0);
    expect(stderr).toContain('no gateway answers at http://127.0.0.1:9');
    expect(stdout.split('\n')[0]).toBe(`trace of ${readingId} (from influxdb)`);
    expect(stdout).toMatch(/rule\s+hvac-cool fired: value = \d+(\.\d+)? greaterThan 28 ✓/);
    expect(stdout).toContain(commandId);
    expect(stdout).toMatch(/confirmed\s+command/);
  });

  it('says confirmed for the first command to an actuator that reported only once commanded, as /api/actuators does', async () => {
    // A light that reports its state only after a change: the first command goes out before the
    // gateway has heard from it, and its answer is its first report.
    const lights = await simulateActuator({ url: gw.mqttUrl, site: 'site1', zone: 'z7', actuator: 'lights', reportsAtConnect: false });
    actuators.push(lights);
    await client.publishAsync('sensors/site1/z7/pir-t/motion', JSON.stringify({ value: true, id: 'motion-z7' }), { qos: 1 });
    const command = await lights.nextCommand();
    expect(command).toMatchObject({ correlationid: 'motion-z7', data: { state: 'on' } });
    const view = await waitFor(async () => {
      const { actuators: list } = (await (await fetch(`${gw.httpUrl}/api/actuators`)).json()) as { actuators: { site: string; zone: string; actuator: string; status: string }[] };
      const found = list.find((a) => a.site === 'site1' && a.zone === 'z7' && a.actuator === 'lights');
      return found?.status === 'confirmed' ? found : undefined;
    }, 'site1/z7/lights confirmed in /api/actuators');
    expect(view).toMatchObject({ reported: { state: 'on' }, data: { state: 'on' } });
    await gw.gateway.rules.idle();
    const { code, stdout } = await trace([command.id, '--url', gw.httpUrl]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`confirmed\\s+command ${command.id}, reported \\{"state":"on"\\} — after \\d+ ms`));
    // And from InfluxDB, once the confirmation is stored there.
    await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT "attempt" FROM "command_status" WHERE "command_id" = '${command.id}' AND "status" = 'confirmed'`)).length === 1, 'the confirmation in InfluxDB');
    const stored = await trace([command.id, '--url', 'http://127.0.0.1:9', '--influx', gw.influxUrl, '--db', gw.db]);
    expect(stored.stdout).toMatch(new RegExp(`confirmed\\s+command ${command.id}, reported \\{"state":"on"\\}`));
  });

  it('says, for a reading no rule matched, that no firing was kept and what that can mean, instead of the reading alone', async () => {
    // No shipped rule reads humidity: the reading is stored, and nothing else happens.
    await client.publishAsync('sensors/site1/z1/hum-t/humidity', JSON.stringify({ value: 40, id: 'humid-t1' }), { qos: 1 });
    await gw.gateway.rules.idle();
    await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT "value" FROM "humidity" WHERE "event_id" = 'humid-t1'`)).length === 1, 'the reading in InfluxDB');
    const { code, stdout } = await trace(['humid-t1', '--url', gw.httpUrl]);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('trace of humid-t1 (from influxdb)');
    expect(lines[1]).toMatch(/reading\s+humid-t1  site1\/z1\/hum-t humidity = 40/);
    expect(lines[2]).toMatch(/^ {2}no rule firing was kept for this reading: no rule matched it, or what fired changed nothing .* not in InfluxDB$/);
    expect(lines).toHaveLength(3);
  });

  it('says so, and exits 1, for an id nobody knows', async () => {
    const { code, stdout } = await trace(['no-such-id', '--url', gw.httpUrl]);
    expect(code).toBe(1);
    expect(stdout).toContain('nothing is known of no-such-id');
  });

  it('leads from an alarm’s id to the reading that raised it and the alarm’s transitions', async () => {
    const critical = await collect(client, 'alerts/site1/critical');
    await client.publishAsync('sensors/site1/z1/smk-t/smoke', JSON.stringify({ value: true, id: 'smoke-t1' }), { qos: 1 });
    const alarmId = (await critical.next()).json<{ data: { alarmId: string } }>().data.alarmId;
    await client.publishAsync('sensors/site1/z1/smk-t/smoke', JSON.stringify({ value: false, id: 'smoke-t2' }), { qos: 1 });
    await gw.gateway.rules.idle();
    const response = await fetch(`${gw.httpUrl}/api/trace/${alarmId}`);
    const json = (await response.json()) as { root: string; steps: { step: string; transition?: string; rule?: string }[] };
    expect(json.root).toBe('smoke-t1');
    expect(json.steps.filter((s) => s.step === 'alarm').map((s) => s.transition)).toEqual(['raised', 'cleared']);
    expect(json.steps.some((s) => s.step === 'firing' && s.rule === 'smoke-alarm')).toBe(true);
    // Cause before effect: the reading, the firing, the alarm raised, its alert.
    const order = json.steps.map((s) => (s.step === 'alarm' ? `alarm ${s.transition ?? ''}` : s.step));
    expect(order.indexOf('firing')).toBeLessThan(order.indexOf('alarm raised'));
    expect(order.indexOf('alarm raised')).toBeLessThan(order.indexOf('alert'));
    expect(order[0]).toBe('reading');
  });
});
