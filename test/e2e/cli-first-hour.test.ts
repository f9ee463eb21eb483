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
