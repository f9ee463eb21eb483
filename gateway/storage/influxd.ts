import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { alive, isOurInfluxd, listensOn, readPidFile, removePidFile, removePidFileSync, terminate, writePidFile } from './influxd-pidfile.js';

/**
 * Runs InfluxDB 1.x (`influxd`, Debian's `influxdb` package) as a plain child process configured
 * by environment: used by `npm start` when no InfluxDB is configured or answering, and by the
 * tests, which each start their own on free ports with a temporary directory.
 */

export const INSTALL_HINT =
  'install InfluxDB 1.x: `apt-get install -y influxdb` (Debian/Ubuntu; the service need not run), or run one with `docker run -p 8086:8086 influxdb:1.8`, then restart the gateway or set INFLUX_URL';

/** influxd on PATH, or in the sbin directories Debian leaves out of a user's PATH. */
export async function findInfluxd(): Promise<string | undefined> {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'influxd');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function pingInflux(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/ping`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === 204 || res.status === 200;
  } catch {
    return false;
  }
}

export interface InfluxdProcess {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartInfluxdOptions {
  readonly dataDir: string;
  /** 0 = a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
  /** Where influxd's own output goes (default: `<dataDir>/influxd.log`). */
  readonly logFile?: string;
  /** In its own process group, so a Ctrl-C at the gateway's terminal does not reach it: the gateway stops it. */
  readonly detached?: boolean;
}

/** influxd ended before it answered: on ports picked free, likely taken in between (it is tried again). */
class ExitedBeforeReady extends Error {}

export async function startInfluxd(o: StartInfluxdOptions): Promise<InfluxdProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o);
    } catch (err) {
      if (!(err instanceof ExitedBeforeReady) || o.port || attempt >= 3) throw err;
    }
  }
}

async function startOnce(o: StartInfluxdOptions): Promise<InfluxdProcess> {
  const binary = o.binary ?? (await findInfluxd());
  if (!binary) throw new Error(`influxd not found: ${INSTALL_HINT}`);
  const host = o.host ?? '127.0.0.1';
  const port = o.port || (await freePort(host));
  const rpcPort = await freePort(host);
  await mkdir(o.dataDir, { recursive: true });
  const out = createWriteStream(o.logFile ?? join(o.dataDir, 'influxd.log'), { flags: 'a' });
  const child = spawn(binary, ['-config', '/dev/null'], {
    env: {
      ...process.env,
      INFLUXDB_META_DIR: join(o.dataDir, 'meta'),
      INFLUXDB_DATA_DIR: join(o.dataDir, 'data'),
      INFLUXDB_DATA_WAL_DIR: join(o.dataDir, 'wal'),
      INFLUXDB_HTTP_BIND_ADDRESS: `${host}:${port}`,
      INFLUXDB_BIND_ADDRESS: `${host}:${rpcPort}`,
      INFLUXDB_REPORTING_DISABLED: 'true',
      INFLUXDB_HTTP_LOG_ENABLED: 'false',
      INFLUXDB_DATA_QUERY_LOG_ENABLED: 'false',
      INFLUXDB_MONITOR_STORE_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: o.detached ?? false,
  });
  // Two streams into one file: it is ended once the process and both streams are done. Ended at
  // 'exit' (or by the first stream to end), stderr's last lines met a closed file: a write after
  // end, an uncaught error in the gateway.
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  child.once('close', () => out.end());
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const url = `http://${host}:${port}`;
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  let done = false;
  void exited.then(() => {
    done = true;
  });
  // Its own answer: another InfluxDB that took the same port in between answers /ping as well.
  while (!((await pingInflux(url, 500)) && (await listensOn(child.pid, port)))) {
    if (done) {
      throw new ExitedBeforeReady(`influxd exited before it was ready; see ${o.logFile ?? join(o.dataDir, 'influxd.log')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`influxd did not answer on ${url} within ${o.readyTimeoutMs ?? 30_000} ms`);
    }
    await sleep(50);
  }
  return {
    url,
    port,
    dataDir: o.dataDir,
    child,
    exited,
    async stop(graceMs = 5000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * `npm start`'s embedded default: starts influxd under DATA_DIR in its own process group, with a
 * pid file there, restarts it if it dies, and stops it whenever the gateway exits (a clean stop,
 * a forced one, a crash); only a SIGKILL of the gateway leaves it running, and the next start
 * stops that orphan and starts a new one (`reclaimOrphan`).
 */
export class EmbeddedInflux {
  private process: InfluxdProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private readonly onProcessExit = (): void => this.killNow();

  constructor(
    private readonly dataDir: string,
    private port: number,
    private readonly log: Logger,
    private readonly binary?: string,
  ) {}

  get url(): string | undefined {
    return this.process?.url;
  }

  async start(): Promise<void> {
    if (this.stopping) return;
    const started = await startInfluxd({ dataDir: this.dataDir, port: this.port, binary: this.binary, detached: true });
    this.process = started;
    // A restart keeps the port the writer was given.
    this.port = started.port;
    const pid = started.child.pid ?? 0;
    await writePidFile(this.dataDir, { pid, url: started.url, startedAt: new Date().toISOString() });
    process.once('exit', this.onProcessExit);
    this.log.info({ url: started.url, dataDir: this.dataDir, pid }, `started an embedded InfluxDB (pid ${pid}; INFLUX_URL unset and nothing answered); set INFLUX_URL to use your own`);
    void started.exited.then((code) => {
      process.removeListener('exit', this.onProcessExit);
      return this.onExit(code);
    });
  }

  /** From now on an exit is expected: not reported, not restarted (the gateway is stopping). */
  expectExit(): void {
    this.stopping = true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const running = this.process;
    if (!running) return;
    await running.stop();
    process.removeListener('exit', this.onProcessExit);
    await removePidFile(this.dataDir);
    this.log.info({ pid: running.child.pid }, `embedded InfluxDB stopped (pid ${running.child.pid})`);
  }

  /** The process is exiting without a clean stop (forced, crashed): SIGTERM influxd, synchronously. */
  private killNow(): void {
    const child = this.process?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    removePidFileSync(this.dataDir);
  }

  private async onExit(code: number | string | null): Promise<void> {
    if (this.stopping) return;
    this.restarts++;
    const delay = backoffDelay(this.restarts, 500, 30_000, false);
    this.log.error({ code, restarts: this.restarts, inMs: delay }, 'embedded InfluxDB exited; restarting it (events wait in the spool)');
    await sleep(delay, undefined, { ref: false });
    if (this.stopping) return;
    try {
      await this.start();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'embedded InfluxDB did not restart');
      void this.onExit(null);
    }
  }
}

/**
 * An influxd that an earlier gateway started on this data directory and left running (it was
 * killed with SIGKILL): stopped, so that this gateway starts its own and owns it (restarts it,
 * stops it), rather than taking it for an InfluxDB someone else runs. Says so when it does.
 */
export async function reclaimOrphan(dataDir: string, log: Logger): Promise<void> {
  const record = await readPidFile(dataDir);
  if (!record) return;
  if (alive(record.pid) && isOurInfluxd(record.pid, dataDir)) {
    await terminate(record.pid);
    log.warn({ pid: record.pid, url: record.url, since: record.startedAt }, `an embedded InfluxDB left running by an earlier run (pid ${record.pid}; that gateway did not stop cleanly) was stopped; starting a new one`);
  }
  await removePidFile(dataDir);
}
