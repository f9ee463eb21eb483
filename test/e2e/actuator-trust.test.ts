/**
 * A sensor's credential cannot pose as its zone's actuator (README "Who may talk"): a `device`
 * client may subscribe to its zone's command topics, but where that zone's actuators have their own
 * `actuator` credential, its `devices/<device>/state` reports are not that actuator's (neither a
 * confirmation nor a change by hand). Where no actuator credential covers the zone (a thermostat
 * that measures and switches on one `device` credential), it is still the actuator it subscribes
 * as. A real gateway with a credentials file, real mqtt.js clients.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { addCredentials, metric } from '../helpers/auth.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let secrets: Record<string, string>;
const open: MqttClient[] = [];

interface ActuatorJson {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly status: string;
  readonly reported?: Record<string, unknown>;
}

const ops = () => ({ name: 'ops', secret: secrets['ops']! });

async function as(name: string): Promise<MqttClient> {
  const client = await connect(gw.mqttUrl, { username: name, password: secrets[name], clientId: name });
  open.push(client);
  return client;
}

async function actuatorView(target: string): Promise<ActuatorJson | undefined> {
  const res = await fetch(`${gw.httpUrl}/api/actuators`, { headers: { authorization: `Basic ${Buffer.from(`ops:${secrets['ops']!}`).toString('base64')}` } });
  const { actuators } = (await res.json()) as { actuators: ActuatorJson[] };
  return actuators.find((a) => `${a.site}/${a.zone}/${a.actuator}` === target);
}

const unknownActuator = () => metric(gw.httpUrl, 'gateway_deadletters_total', { reason: 'unknown_actuator' }, ops());

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-actuator-trust-'));
  secrets = await addCredentials(dataDir, [
    { name: 't-101', role: 'device', device: 't-101', site: 'hq', zone: 'f1' },
    { name: 'hvac-f1', role: 'actuator', device: 'hvac-f1', site: 'hq', zone: 'f1' },
    // hq/f2 has no actuator credential: its thermostat measures and switches on one device credential.
    { name: 'stat-201', role: 'device', device: 'stat-201', site: 'hq', zone: 'f2' },
    // An actuator credential for the whole site `lab` (no zone) covers every zone of it.
    { name: 't-301', role: 'device', device: 't-301', site: 'lab', zone: 'z1' },
    { name: 'lab-hvac', role: 'actuator', device: 'lab-hvac', site: 'lab' },
    { name: 'ops', role: 'admin' },
  ]);
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES, env: { STATS_INTERVAL_MS: '0' } });
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync().catch(() => undefined)));
  await gw?.stop();
});

describe('a device credential subscribed to its zone command topic', () => {
  it('is not the zone actuator where an actuator credential covers the zone: its forged state neither confirms nor overrides', async () => {
    const admin = await as('ops');
    const info = await collect(admin, 'alerts/hq/info');
    const hvac = await as('hvac-f1');
    const hvacCommands = await collect(hvac, 'commands/hq/f1/hvac');
    const sensor = await as('t-101');
    await sensor.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });

    await sensor.publishAsync('sensors/hq/f1/t-101/temperature', JSON.stringify({ value: 31, id: 'hot-1' }), { qos: 1 });
    const cool = (await hvacCommands.next()).json<{ id: string; data: unknown }>();
    expect(cool.data).toEqual({ mode: 'cool', setpoint: 22 });

    // The forgery: a state that would confirm the command, then one that would be a change by hand.
    await sensor.publishAsync('devices/t-101/state', JSON.stringify({ mode: 'cool', setpoint: 22 }), { qos: 1 });
    await sensor.publishAsync('devices/t-101/state', JSON.stringify({ mode: 'heat', setpoint: 30 }), { qos: 1 });
    await waitFor(async () => (await unknownActuator()) >= 2 || (await actuatorView('hq/f1/hvac'))?.status === 'manual', 'the forged reports taken in or refused');
    const view = await actuatorView('hq/f1/hvac');
    expect(view?.status).toBe('untracked'); // commanded, never reported: what the real HVAC's first report will answer
    expect(view?.reported).toBeUndefined();
    expect(await unknownActuator()).toBe(2);

    // Said once, naming the credential and the topic, however often it subscribes.
    await sensor.unsubscribeAsync('commands/hq/f1/hvac');
    await sensor.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    await sensor.publishAsync('devices/t-101/state', JSON.stringify({ mode: 'heat', setpoint: 30 }), { qos: 1 });
    await waitFor(async () => (await unknownActuator()) >= 3, 'the third forged report refused');
    const warned = gw.logs.filter((l) => l['credential'] === 't-101' && l['topic'] === 'commands/hq/f1/hvac');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 40, code: 'GW_ERR_ACCESS', actuatorCredentials: ['hvac-f1'] });

    // The real HVAC still confirms, and nothing was ever a change by hand.
    await hvac.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    await hvac.publishAsync('devices/hvac-f1/state', JSON.stringify({ mode: 'cool', setpoint: 22 }), { qos: 1 });
    await waitFor(async () => (await actuatorView('hq/f1/hvac'))?.status === 'confirmed', 'the HVAC confirms');
    expect((await actuatorView('hq/f1/hvac'))?.reported).toEqual({ mode: 'cool', setpoint: 22 });
    expect(info.messages.filter((m) => m.json<{ type: string }>().type === 'actuator.manual-override')).toEqual([]);
    expect(await metric(gw.httpUrl, 'gateway_commands_held_total', { actuator: 'hvac' }, ops())).toBe(0);
  });

  it('is not the actuator of a zone covered by a site-wide actuator credential either, and its dead letter says why', async () => {
    const letters = await collect(await as('ops'), 'gateway/deadletter');
    const sensor = await as('t-301');
    await sensor.subscribeAsync('commands/lab/z1/hvac', { qos: 1 });
    await sensor.publishAsync('devices/t-301/state', JSON.stringify({ mode: 'heat', setpoint: 30 }), { qos: 1 });
    const letter = (await letters.next((m) => m.json<{ clientId: string }>().clientId === 't-301')).json<{ reason: string; detail: string }>();
    expect(letter.reason).toBe('unknown_actuator');
    expect(letter.detail).toContain('commands/lab/z1/hvac');
    expect(letter.detail).toContain('lab-hvac');
    expect(await actuatorView('lab/z1/hvac')).toBeUndefined();
  });

  it('is still the actuator where no actuator credential covers the zone (a combined thermostat)', async () => {
    const stat = await as('stat-201');
    const commands = await collect(stat, 'commands/hq/f2/hvac');
    await stat.publishAsync('sensors/hq/f2/stat-201/temperature', JSON.stringify({ value: 31, id: 'hot-2' }), { qos: 1 });
    expect((await commands.next()).json<{ data: unknown }>().data).toEqual({ mode: 'cool', setpoint: 22 });
    await stat.publishAsync('devices/stat-201/state', JSON.stringify({ mode: 'cool', setpoint: 22 }), { qos: 1 });
    await waitFor(async () => (await actuatorView('hq/f2/hvac'))?.status === 'confirmed', 'the thermostat confirms');
    expect(gw.logs.filter((l) => l['credential'] === 'stat-201')).toEqual([]);
  });
});
