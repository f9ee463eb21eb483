/**
 * What a newcomer's first hour ran into, as real processes against a real gateway: the native
 * simulator with an admin credential, the HTTP tools with a wrong password, typos in the device map.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-first-hour-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Settings the CLIs read, with nothing inherited from the shell that runs the tests. */
const cleanEnv = (dataDir: string): Record<string, string | undefined> => ({ DATA_DIR: dataDir, CREDENTIALS_FILE: undefined, MQTT_ALLOW_ANONYMOUS: undefined, BIND_HOST: undefined, GATEWAY_USERNAME: undefined, GATEWAY_PASSWORD: undefined });

async function adminGateway(): Promise<{ gw: Awaited<ReturnType<typeof startGateway>>; secret: string; dataDir: string }> {
  const dataDir = await tempDir();
  const added = await runTs('gateway/cli/credentials.ts', ['add', 'ops', '--role', 'admin', '--json'], cleanEnv(dataDir));
  const secret = (JSON.parse(added.stdout) as { secret: string }).secret;
  const gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1' } });
  defer(() => gw.stop());
  return { gw, secret, dataDir };
}

describe('npm run simulate --family with an admin credential (README: "simulated devices need an admin credential")', () => {
  it.each(['zigbee2mqtt', 'tasmota'])('%s: connects and its messages are acknowledged', async (family) => {
    const { gw, secret } = await adminGateway();
    const sim = await runTs('simulators/cli.ts', ['--url', gw.mqttUrl, '--family', family, '--devices', '3', '--count', '3', '--rate', '0', '--username', 'ops', '--password', secret, '--json']);
    expect(sim.stderr).toBe('');
    expect(sim.code).toBe(0);
    expect(JSON.parse(sim.stdout)).toMatchObject({ family, devices: 3, failed: 0, unacknowledged: 0 });
    expect(gw.logs.filter((l) => l['reason'] === 'client_id_mismatch')).toEqual([]);
    // Heard as that family's devices (they wait for a zone: no map here).
    const api = (await (await fetch(`${gw.httpUrl}/api/devices`, { headers: { authorization: `Basic ${Buffer.from(`ops:${secret}`).toString('base64')}` } })).json()) as { devices: { family: string }[] };
    expect(api.devices.filter((d) => d.family === family).length).toBe(3);
  });
});

describe('the HTTP tools with credentials the gateway refuses', () => {
  it('say the credential was refused, name it, and exit non-zero (devices list, trace, deadletters redrive)', async () => {
    const { gw, dataDir } = await adminGateway();
    const observer = await runTs('gateway/cli/credentials.ts', ['add', 'graf', '--role', 'observer', '--json'], cleanEnv(dataDir));
    const observerSecret = (JSON.parse(observer.stdout) as { secret: string }).secret;
    const wrong = { ...cleanEnv(dataDir), GATEWAY_USERNAME: 'ops', GATEWAY_PASSWORD: 'wrong' };

    const list = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', join(dataDir, 'devices.yaml'), 'list'], wrong);
    expect(list.stderr).not.toContain('set GATEWAY_USERNAME and GATEWAY_PASSWORD');
    expect(list.stderr).toContain('the gateway refused GATEWAY_USERNAME=ops (401');
    expect(list.code).not.toBe(0);

    const trace = await runTs('gateway/cli/trace.ts', ['--url', gw.httpUrl, 'some-id'], wrong);
    expect(trace.stderr).toContain('the gateway refused GATEWAY_USERNAME=ops (401');
    expect(trace.code).not.toBe(0);

    // Right secret, too small a role: 403, named as such.
    const redrive = await runTs('gateway/cli/deadletters.ts', ['redrive', '--url', gw.httpUrl, '--reason', 'unassigned_device', '--since', '1h'], { ...cleanEnv(dataDir), GATEWAY_USERNAME: 'graf', GATEWAY_PASSWORD: observerSecret });
    expect(redrive.stderr).toContain('the gateway refused GATEWAY_USERNAME=graf (403');
    expect(redrive.stderr).toContain('an admin credential is needed');
    expect(redrive.code).not.toBe(0);

    // assign writes the entry, but a refused credential is said and the exit says it.
    const assign = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', join(dataDir, 'devices.yaml'), 'assign', 'zigbee2mqtt:x', '--site', 'hq', '--zone', 'f1'], wrong);
    expect(assign.stderr).toContain('not checked whether the gateway has heard zigbee2mqtt:x: the gateway refused GATEWAY_USERNAME=ops (401');
    expect(assign.code).not.toBe(0);

    // No credential at all: what to set.
    const none = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', join(dataDir, 'devices.yaml'), 'list'], cleanEnv(dataDir));
    expect(none.stderr).toContain('set GATEWAY_USERNAME and GATEWAY_PASSWORD');
    expect(none.code).not.toBe(0);
  });
});

describe('typos that loaded without a word', () => {
  /** A gateway whose map has an entry a case off the plug that speaks, and an actuator named `hvca`; a client and the dead letters. */
  async function typoGateway() {
    const gw = await startWithMap({
      devices: { 'tasmota:Tasmota_A1B2C3': [{ site: 'hq', zone: 'f1', device: 'plug' }] },
      actuators: { 'hq/f5/hvca': { device: 'tasmota:tasmota_D4E5F6' } },
    });
    defer(() => gw.stop());
    const watcher = await connect(gw.mqttUrl, { clientId: 'watcher' });
    defer(() => watcher.endAsync());
    const letters = await collect(watcher, 'gateway/deadletter');
    const device = await connect(gw.mqttUrl, { clientId: 'DVES_A1B2C3' });
    defer(() => device.endAsync());
    const warned = (re: RegExp) => gw.logs.find((l) => re.test(l.msg));
    return { gw, letters, device, warned };
  }

  it('(a) an actuator entry no rule commands is warned of at load, with the nearest name the rules command', async () => {
    const { warned } = await typoGateway();
    // The repository's rules command hvac, not hvca.
    const hvca = await waitFor(() => warned(/no rule commands an actuator named "hvca"/), 'the warning about hvca');
    expect(hvca.msg).toContain('did you mean "hvac"?');
    expect(hvca['code']).toBe('GW_ERR_DEVICE_MAP');
  });

  it('(c) a device waiting for a zone: its dead letter and the next map load name the entry a case off', async () => {
    const { gw, letters, device, warned } = await typoGateway();
    await device.publishAsync('tele/tasmota_A1B2C3/SENSOR', JSON.stringify({ AM2301: { Temperature: 21.5, Humidity: 40 }, TempUnit: 'C' }), { qos: 1 });
    const waiting = await letters.next((m) => m.json<{ reason: string }>().reason === 'unassigned_device');
    expect(waiting.json<{ detail: string }>().detail).toContain('(the device map has devices."tasmota:Tasmota_A1B2C3" (ids are case-sensitive), not tasmota:tasmota_A1B2C3: correct that entry)');
    await appendFile(gw.mapFile, '\n# touched\n');
    await waitFor(() => warned(/devices\."tasmota:Tasmota_A1B2C3" \(ids are case-sensitive\) is not tasmota:tasmota_A1B2C3, which is heard and waits for a zone/), 'the near miss at the map load');
  });

  it('(d) a misspelt kind on a contract topic: the dead letter suggests the kind', async () => {
    const { letters, device } = await typoGateway();
    await device.publishAsync('sensors/hq/f1/t1/temprature', '21', { qos: 1 });
    const kind = await letters.next((m) => m.json<{ reason: string }>().reason === 'unknown_kind');
    expect(kind.json<{ detail: string }>().detail).toBe('unknown kind "temprature": did you mean "temperature"?');
  });

  it('(b) devices assign of a device never heard writes it and warns, with the nearest heard one', async () => {
    const { gw, letters, device } = await typoGateway();
    await device.publishAsync('zigbee2mqtt/weather_sensor', JSON.stringify({ temperature: 20.1 }), { qos: 1 });
    await letters.next((m) => m.payload.includes('zigbee2mqtt:weather_sensor'));
    const env = { GATEWAY_USERNAME: undefined, GATEWAY_PASSWORD: undefined };
    const assign = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', gw.mapFile, 'assign', 'zigbee2mqtt:weather_sensr', '--site', 'hq', '--zone', 'f1'], env);
    expect(assign.code).toBe(0);
    expect(assign.stderr).toContain('has not heard zigbee2mqtt:weather_sensr (yet); did you mean zigbee2mqtt:weather_sensor?');
    expect(await readFile(gw.mapFile, 'utf8')).toContain('zigbee2mqtt:weather_sensr');
    // A heard one: no warning.
    const right = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', gw.mapFile, 'assign', 'zigbee2mqtt:weather_sensor', '--site', 'hq', '--zone', 'f1'], env);
    expect(right.code).toBe(0);
    expect(right.stderr).toBe('');
  });
});
