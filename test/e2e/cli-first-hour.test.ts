/**
 * What a newcomer's first hour ran into, as real processes against a real gateway: the native
 * simulator with an admin credential, the HTTP tools with a wrong password, typos in the device map.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { runTs } from '../helpers/run.js';

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

    // No credential at all: what to set.
    const none = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', join(dataDir, 'devices.yaml'), 'list'], cleanEnv(dataDir));
    expect(none.stderr).toContain('set GATEWAY_USERNAME and GATEWAY_PASSWORD');
    expect(none.code).not.toBe(0);
  });
});
