/** The command-line tools as a user runs them, as real processes, read by their output. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { runTs } from '../helpers/run.js';

const { defer } = useCleanup();

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-cli-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Settings the CLIs read, with nothing inherited from the shell that runs the tests. */
const cleanEnv = (dataDir: string): Record<string, string | undefined> => ({ DATA_DIR: dataDir, CREDENTIALS_FILE: undefined, MQTT_ALLOW_ANONYMOUS: undefined, BIND_HOST: undefined });

describe('npm run credentials', () => {
  it('says, when it adds the first credential, that a running gateway now refuses anonymous clients and will listen on every interface', async () => {
    const dataDir = await tempDir();
    const gw = await startGateway({ dataDir });
    defer(() => gw.stop());
    const before = await connect(gw.mqttUrl, { clientId: 'anon-before' });
    await before.endAsync();

    const first = await runTs('gateway/cli/credentials.ts', ['add', 'ops', '--role', 'admin'], cleanEnv(dataDir));
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('This is the first credential, so:');
    expect(first.stdout).toContain('anonymous clients are refused from now on (by a running gateway from their next CONNECT)');
    expect(first.stdout).toContain('--username and --password');
    expect(first.stdout).toContain('at its next start the gateway listens on every interface (0.0.0.0)');
    // As it says: the running gateway refuses an anonymous client now.
    await expect(connect(gw.mqttUrl, { clientId: 'anon-after' })).rejects.toThrow(/Not authorized/);

    const second = await runTs('gateway/cli/credentials.ts', ['add', 'ops2', '--role', 'admin'], cleanEnv(dataDir));
    expect(second.code).toBe(0);
    expect(second.stdout).not.toContain('first credential');
  });

  it('leaves out what the settings keep as it was', async () => {
    const dataDir = await tempDir();
    const kept = await runTs('gateway/cli/credentials.ts', ['add', 'ops', '--role', 'admin'], { ...cleanEnv(dataDir), MQTT_ALLOW_ANONYMOUS: 'true' });
    expect(kept.stdout).toContain('This is the first credential');
    expect(kept.stdout).not.toContain('anonymous clients are refused');
    const both = await runTs('gateway/cli/credentials.ts', ['add', 'ops', '--role', 'admin'], { ...cleanEnv(await tempDir()), MQTT_ALLOW_ANONYMOUS: 'true', BIND_HOST: '127.0.0.1' });
    expect(both.code).toBe(0);
    expect(both.stdout).not.toContain('first credential');
  });
});

describe('npm run credentials for native devices and bridges', () => {
  it("adds a Tasmota's credential as the README says, and the device may then use its own topics only", async () => {
    const dataDir = await tempDir();
    const added = await runTs('gateway/cli/credentials.ts', ['add', 'plug-1', '--role', 'native', '--native', 'tasmota:tasmota_A1B2C3', '--json'], cleanEnv(dataDir));
    expect(added.code, added.stderr).toBe(0);
    const { secret, native } = JSON.parse(added.stdout) as { secret: string; native: string };
    expect(native).toBe('tasmota:tasmota_A1B2C3');
    const gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1' } });
    defer(() => gw.stop());
    // Tasmota picks its own client id (DVES_…).
    const plug = await connect(gw.mqttUrl, { clientId: 'DVES_A1B2C3', username: 'plug-1', password: secret });
    defer(() => plug.endAsync());
    expect((await plug.subscribeAsync('cmnd/tasmota_A1B2C3/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    await expect(plug.subscribeAsync('commands/#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
  });

  it('says what a native device and a non-Zigbee2MQTT bridge need, and what an actuator without a device cannot do', async () => {
    const dataDir = await tempDir();
    const env = { ...cleanEnv(dataDir), MQTT_ALLOW_ANONYMOUS: 'true', BIND_HOST: '127.0.0.1' };
    const noNative = await runTs('gateway/cli/credentials.ts', ['add', 'x', '--role', 'native'], env);
    expect(noNative.code).toBe(1);
    expect(noNative.stderr).toContain('a native device needs --native <family:id> (tasmota:<id>, shelly:<id>, esphome:<id>)');
    const badFamily = await runTs('gateway/cli/credentials.ts', ['add', 'x', '--role', 'native', '--native', 'sonoff:abc'], env);
    expect(badFamily.stderr).toContain('--native must be <family>:<id> with a family of tasmota, shelly, esphome (got "sonoff:abc")');
    const noBase = await runTs('gateway/cli/credentials.ts', ['add', 'sh', '--role', 'bridge', '--family', 'shelly'], env);
    expect(noBase.stderr).toContain('a shelly bridge needs --base <its base topic>');
    const bridge = await runTs('gateway/cli/credentials.ts', ['add', 'z2m-2', '--role', 'bridge', '--base', 'z2m-2'], env);
    expect(bridge.stdout).toContain('added z2m-2 (bridge, zigbee2mqtt under z2m-2/)');
    const actuator = await runTs('gateway/cli/credentials.ts', ['add', 'hvac-f1', '--role', 'actuator', '--site', 'hq', '--zone', 'f1'], env);
    expect(actuator.code).toBe(0);
    expect(actuator.stdout).toContain('it names no device: it hears its commands, but may not report its state on devices/<device>/state; add --device <its id> for that.');
    const named = await runTs('gateway/cli/credentials.ts', ['add', 'hvac-f2', '--role', 'actuator', '--device', 'hvac-f2', '--site', 'hq', '--zone', 'f2'], env);
    expect(named.stdout).not.toContain('names no device');
  });
});

describe('npm run simulate against a gateway with credentials', () => {
  it('says that anonymous clients are refused and names --username and --password', async () => {
    const dataDir = await tempDir();
    await runTs('gateway/cli/credentials.ts', ['add', 'ops', '--role', 'admin'], cleanEnv(dataDir));
    const gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1' } });
    defer(() => gw.stop());
    const sim = await runTs('simulators/cli.ts', ['--url', gw.mqttUrl, '--devices', '1', '--count', '1', '--rate', '0']);
    expect(sim.code).toBe(1);
    expect(sim.stderr).toContain('Not authorized');
    expect(sim.stderr).toContain('the gateway has credentials, so it refuses anonymous clients: pass an admin credential with --username <name> --password <secret>');
    expect(sim.stderr).not.toContain('is the gateway running');

    const wrong = await runTs('simulators/cli.ts', ['--url', gw.mqttUrl, '--devices', '1', '--count', '1', '--rate', '0', '--username', 'ops', '--password', 'not-the-secret']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/the gateway refused --username ops/);

    // A device credential may connect only as its own device: the gateway runs, so do not say it does not.
    const added = await runTs('gateway/cli/credentials.ts', ['add', 't-1', '--role', 'device', '--device', 't-1', '--site', 'hq', '--zone', 'f1', '--json'], cleanEnv(dataDir));
    const secret = (JSON.parse(added.stdout) as { secret: string }).secret;
    const device = await runTs('simulators/cli.ts', ['--url', gw.mqttUrl, '--devices', '1', '--count', '1', '--rate', '0', '--username', 't-1', '--password', secret]);
    expect(device.code).toBe(1);
    expect(device.stderr).toContain('a device credential may only connect as its own device');
    expect(device.stderr).not.toContain('is the gateway running');
  });

  it('refuses a URL without its scheme, saying what a URL looks like', async () => {
    const sim = await runTs('simulators/cli.ts', ['--url', 'localhost:1883', '--devices', '1', '--count', '1']);
    expect(sim.code).toBe(1);
    expect(sim.stderr).toContain("option '--url <url>' argument 'localhost:1883' is invalid. must be a URL such as mqtt://127.0.0.1:1883");
    const replay = await runTs('gateway/cli/rules-replay.ts', ['--from', '1h', '--influx', 'localhost:8086']);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('must be an http:// or https:// URL such as http://127.0.0.1:8086');
  });

  it('asks whether the gateway runs when nothing answers', async () => {
    const sim = await runTs('simulators/cli.ts', ['--url', 'mqtt://127.0.0.1:1', '--devices', '1', '--count', '1']);
    expect(sim.code).toBe(1);
    expect(sim.stderr).toContain('is the gateway running at mqtt://127.0.0.1:1?');
  });
});

describe('npm run rules:replay --help', () => {
  it('shows defaults as times and durations, not as epoch milliseconds', async () => {
    const help = await runTs('gateway/cli/rules-replay.ts', ['--help'], { INFLUX_URL: undefined, INFLUX_DB: undefined, RULES_DIR: undefined });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--to <time> +end \(excluded\): ISO-8601 time, or how long ago \(default:\s+now\)/);
    expect(help.stdout).toMatch(/--chunk <duration> +time covered by one InfluxDB query \(default: 15m\)/);
    expect(help.stdout).toMatch(/\(default: none\)/);
    expect(help.stdout).toContain('Times: an ISO-8601 time');
    // No number that could be a time in milliseconds, nor a duration in them.
    expect(help.stdout).not.toMatch(/\b\d{6,}\b/);
  });
});
