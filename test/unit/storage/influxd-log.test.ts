/**
 * influxd's stdout and stderr go to one log file (gateway/storage/influxd.ts). The file was ended
 * when the process exited, or when the first of its two streams ended, while the other could still
 * be delivering: "write after end", an uncaught error (a CI run caught it as the embedded influxd
 * stopped). A stand-in for influxd here closes its stdout, then writes to stderr as it stops.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { startInfluxd } from '../../../gateway/storage/influxd.js';
import { useCleanup } from '../../helpers/cleanup.js';

const { defer } = useCleanup();

const STAND_IN = `#!${process.execPath}
const http = require('node:http');
const fs = require('node:fs');
const [host, port] = process.env.INFLUXDB_HTTP_BIND_ADDRESS.split(':');
http.createServer((req, res) => { res.writeHead(204); res.end(); }).listen(Number(port), host);
process.stdout.write('started\\n');
process.on('SIGTERM', () => {
  fs.closeSync(1);
  setTimeout(() => { process.stderr.write('stopping: '.repeat(20000) + 'last words\\n', () => process.exit(0)); }, 100);
});
`;

it('keeps what influxd says on stderr after its stdout closed, and raises no error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-influxd-log-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const binary = join(dir, 'influxd-stand-in.cjs');
  await writeFile(binary, STAND_IN);
  await chmod(binary, 0o755);
  const errors: unknown[] = [];
  const onError = (err: unknown): void => void errors.push(err);
  process.on('uncaughtException', onError);
  defer(async () => void process.off('uncaughtException', onError));
  const influx = await startInfluxd({ dataDir: join(dir, 'data'), binary });
  await influx.stop();
  await sleep(300);
  const log = await readFile(join(dir, 'data', 'influxd.log'), 'utf8');
  expect(log).toContain('started');
  expect(log).toContain('last words');
  expect(errors).toEqual([]);
});
