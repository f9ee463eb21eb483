/**
 * `npm run trace` against a gateway that asks for credentials (HTTP_AUTH=auto once any exist): it
 * sends GATEWAY_USERNAME / GATEWAY_PASSWORD as the other tools do, and says what to set when
 * they are missing (it used to fail with a bare "answered 401").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCredentials, run } from '../helpers/auth.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { ROOT } from '../helpers/process.js';

let gw: TestGateway;
let dataDir: string;
let secret: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-trace-auth-'));
  secret = (await addCredentials(dataDir, [{ name: 'ops', role: 'admin' }]))['ops']!;
  gw = await startGateway({ dataDir });
});

afterAll(async () => {
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function trace(env: Record<string, string>) {
  const { GATEWAY_USERNAME: _u, GATEWAY_PASSWORD: _p, ...rest } = process.env;
  return run(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/trace.ts'), 'no-such-reading', '--url', gw.httpUrl], { env: { ...rest, ...env } });
}

describe('npm run trace with credentials', () => {
  it('sends GATEWAY_USERNAME and GATEWAY_PASSWORD: the gateway answers (here: nothing is known of the id)', async () => {
    const { code, stdout, stderr } = await trace({ GATEWAY_USERNAME: 'ops', GATEWAY_PASSWORD: secret });
    expect(stderr).not.toContain('credentials');
    expect(stdout).toContain('nothing is known of no-such-reading (neither in memory nor in InfluxDB)');
    expect(code).toBe(1);
  });

  it('says which settings to give when the gateway asks for credentials', async () => {
    const { code, stdout, stderr } = await trace({});
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain('GW_ERR_AUTH: the gateway asks for credentials: set GATEWAY_USERNAME and GATEWAY_PASSWORD (an observer or admin credential');
  });
});
