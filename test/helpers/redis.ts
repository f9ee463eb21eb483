/**
 * A real redis-server (Debian's) for a test: a free port on 127.0.0.1, a temporary directory,
 * AOF with `appendfsync always` (what the cluster compose file runs), no RDB snapshots. The test
 * can SIGKILL it and start it again on the same port and directory (its AOF is replayed), or
 * empty (its files removed first: a Redis without persistence, or a container without a volume).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../gateway/storage/influxd.js';
import { waitFor } from './wait.js';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The running process (a new one after `restart`). */
  readonly child: ChildProcess;
  /** SIGKILL: no shutdown, no final AOF rewrite. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (after `kill` or `stop`); `empty`: without its data. */
  restart(options?: { empty?: boolean }): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

const BINARY = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';

/**
 * Whether the redis-server answering on `port` is the process `pid`: another test's server that
 * took the same port (two free-port picks can collide) must not pass for this one.
 */
function answersAs(port: number, pid: number | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let data = '';
    socket.once('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      const id = /process_id:(\d+)\r\n/.exec(data);
      if (id || data.startsWith('-')) {
        socket.destroy();
        resolve(id !== null && Number(id[1]) === pid);
      }
    });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function startRedis(options: { appendfsync?: 'always' | 'everysec' } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-test-redis-'));
  let port = await freePort();
  let child: ChildProcess;
  /** Starts it on `port`; false when it exited before answering (the port was taken: it cannot bind). */
  const launch = async (): Promise<boolean> => {
    child = spawn(
      BINARY,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', options.appendfsync ?? 'always', '--save', '', '--daemonize', 'no', '--logfile', join(dir, 'redis.log')],
      { stdio: 'ignore' },
    );
    try {
      const ready = await waitFor(async () => (child.exitCode !== null ? 'exited' : (await answersAs(port, child.pid)) && 'ready'), `redis-server on port ${port}`, 15_000);
      return ready === 'ready';
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  };
  const gone = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  };
  // A port picked free can be taken before the server binds it: then a new one, up to three.
  for (let attempt = 1; !(await launch()); attempt++) {
    if (attempt >= 3) throw new Error(`redis-server exited before it answered, three times (see ${join(dir, 'redis.log')})`);
    port = await freePort();
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get child() {
      return child;
    },
    async kill() {
      child.kill('SIGKILL');
      await gone();
    },
    async restart({ empty = false } = {}) {
      if (empty) {
        if (child.exitCode === null && child.signalCode === null) throw new Error('restart({ empty: true }) needs the server stopped first (kill)');
        for (const f of await readdir(dir)) if (f !== 'redis.log') await rm(join(dir, f), { recursive: true, force: true });
      }
      if (!(await launch())) throw new Error(`redis-server exited before it answered on port ${port} (see ${join(dir, 'redis.log')})`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await gone();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
