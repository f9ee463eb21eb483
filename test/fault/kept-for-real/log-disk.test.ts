/**
 * Issue 14, situation 5: a log destination that cannot write (its disk is full) must never keep
 * the gateway from stopping. The gateway runs as a real process with its stdout on a full
 * tmpfs, or on /dev/full (every write: ENOSPC); SIGTERM must end it (exit 0), and a start that
 * fails must exit 1. The deadline is a failure guard, not a timing claim: the gateway's own
 * forced exit (main.ts) comes after 20 s.
 *
 * Written to fail on today's code: log.ts's createLogger() uses pino's default destination
 * (sonic-boom on fd 1, asynchronous). A failed write is re-emitted by pino as an 'error' nobody
 * listens to: an uncaught exception, so the process exits; pino's exit hook then flushes the
 * lines still buffered with flushSync(), which sleeps and retries ENOSPC forever. The process
 * hangs there, its ports still bound (a bad setting alone exits, as nothing is buffered yet).
 */
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { uniqueDb } from '../../helpers/influx.js';
import { freePort, spawnGatewayLoggingTo, type LoggingToProcess } from '../../helpers/log-disk.js';
import { fillDisk, fillFile, mountTmpfs, tmpfsUnavailable } from '../../helpers/tmpfs.js';
import { waitFor } from '../../helpers/wait.js';

const { defer } = useCleanup();
const GUARD_MS = 45_000;
const unavailable = await tmpfsUnavailable();
if (unavailable) console.warn(`issue 14 (5) the tmpfs log-disk test is skipped: ${unavailable}`);

async function gatewayEnv(): Promise<{ env: Record<string, string>; http: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-logdisk-'));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const http = await freePort();
  return { http, env: { DATA_DIR: dataDir, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb(), RULES_DIR: 'rules', MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: String(http) } };
}

/** The gateway's stdout: appending, as a log file is opened (so its writes land at the end). */
function logTo(path: string): number {
  const fd = openSync(path, 'a');
  defer(async () => closeSync(fd));
  return fd;
}

function track(p: LoggingToProcess): LoggingToProcess {
  defer(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

const healthy = (http: number) => waitFor(async () => (await fetch(`http://127.0.0.1:${http}/healthz`)).ok, 'the gateway to answer /healthz', 30_000, 100);

describe('issue 14 (5): a full disk under the log', () => {
  it.skipIf(unavailable !== undefined)(`exits on SIGTERM once the disk under its log is full${unavailable ? ` [skipped: ${unavailable}]` : ''}`, { timeout: 120_000 }, async () => {
    const t = await mountTmpfs('1m');
    defer(() => t.unmount());
    const logFile = join(t.dir, 'gateway.log');
    const { env, http } = await gatewayEnv();
    const p = track(spawnGatewayLoggingTo(logTo(logFile), env));
    await healthy(http);
    expect(await readFile(logFile, 'utf8')).toContain('"gateway started"');
    await fillDisk(t.dir);
    await fillFile(logFile); // and the room left in the log file's last page
    p.child.kill('SIGTERM');
    expect(await p.exitWithin(GUARD_MS), 'the gateway after SIGTERM, its log disk full').toBe(0);
  });

  it('comes up and exits 0 on SIGTERM with its log on /dev/full', { timeout: 120_000 }, async () => {
    const { env, http } = await gatewayEnv();
    const p = track(spawnGatewayLoggingTo(logTo('/dev/full'), env));
    const up = await healthy(http).then(
      () => 'answers /healthz',
      (err: Error) => err.message,
    );
    expect.soft(up, 'the gateway started with its log on /dev/full').toBe('answers /healthz');
    p.child.kill('SIGTERM');
    expect(await p.exitWithin(GUARD_MS), 'the gateway after SIGTERM, its log on /dev/full').toBe(0);
  });

  it('exits 1 from a start that fails (its HTTP port is taken) with its log on /dev/full', { timeout: 120_000 }, async () => {
    const { env, http } = await gatewayEnv();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(http, '127.0.0.1', resolve));
    defer(() => new Promise((resolve) => taken.close(resolve)));
    const p = track(spawnGatewayLoggingTo(logTo('/dev/full'), env));
    expect(await p.exitWithin(GUARD_MS), 'the gateway after a failed start, its log on /dev/full').toBe(1);
  });

  it('control (passes today): exits 1 on a bad setting with its log on /dev/full', { timeout: 120_000 }, async () => {
    const { env } = await gatewayEnv();
    const p = track(spawnGatewayLoggingTo(logTo('/dev/full'), { ...env, MQTT_PORT: 'not-a-port' }));
    expect(await p.exitWithin(GUARD_MS)).toBe(1);
  });
});
