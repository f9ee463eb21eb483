/**
 * `npm run trace` against a gateway that asks for credentials (HTTP_AUTH once any exist): it sends
 * GATEWAY_USERNAME / GATEWAY_PASSWORD as the other tools do, and says what to set when they are
 * missing. The gateway's side of HTTP authentication has its own tests; here a stand-in answers
 * /api/trace as it does.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';

const run = promisify(execFile);
const GOOD = `Basic ${Buffer.from('ops:s3cret').toString('base64')}`;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.headers.authorization !== GOOD) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="gateway"' }).end('{"error":"credentials required"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'r-1', found: true, from: 'memory', root: 'r-1', steps: [{ t: 1_764_000_000_000, step: 'reading', id: 'r-1', source: 'hq/f1/t-1', kind: 'temperature', value: 31 }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function trace(env: Record<string, string>) {
  const { GATEWAY_USERNAME: _u, GATEWAY_PASSWORD: _p, ...rest } = process.env;
  return run(process.execPath, ['--import', 'tsx', 'gateway/cli/trace.ts', 'r-1', '--url', url], { cwd: ROOT, env: { ...rest, ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

describe('npm run trace with credentials', () => {
  it('sends GATEWAY_USERNAME and GATEWAY_PASSWORD', async () => {
    const { code, stdout } = await trace({ GATEWAY_USERNAME: 'ops', GATEWAY_PASSWORD: 's3cret' });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^trace of r-1 \(from memory\)\n\s+\S+\s+reading\s+r-1\s+hq\/f1\/t-1 temperature = 31/);
  });

  it('says which settings to give when the gateway asks for credentials', async () => {
    const { code, stderr } = await trace({});
    expect(code).not.toBe(0);
    expect(stderr).toContain('the gateway asks for credentials: set GATEWAY_USERNAME and GATEWAY_PASSWORD');
  });
});
