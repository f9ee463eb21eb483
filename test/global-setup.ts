/**
 * Starts one real InfluxDB (Debian's influxd) for the whole run, on a free port with a
 * temporary directory; each test uses its own database in it. Installs the system packages
 * the tests need when they are missing, so `npm test` passes on a fresh machine.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findInfluxd, startInfluxd } from '../gateway/storage/influxd.js';

declare module 'vitest' {
  export interface ProvidedContext {
    influxUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Quick when everything is there (it only checks); installs what is missing otherwise.
  execFileSync('bash', [join(import.meta.dirname, '..', 'scripts', 'setup.sh')], { stdio: 'inherit' });
  if (!(await findInfluxd())) throw new Error('influxd is still missing after scripts/setup.sh');
  // Every temporary directory of the run (test files, the gateways and influxd they start) goes
  // under one root, removed at the end: a test that fails before its own cleanup leaves nothing.
  // The workers are forked after this, with this environment; os.tmpdir() reads TMPDIR.
  const root = await mkdtemp(join(tmpdir(), 'gw-run-'));
  process.env['TMPDIR'] = root;
  const dir = await mkdtemp(join(root, 'gw-test-influx-'));
  const influx = await startInfluxd({ dataDir: dir });
  project.provide('influxUrl', influx.url);
  return async () => {
    await influx.stop();
    await rm(root, { recursive: true, force: true });
  };
}
