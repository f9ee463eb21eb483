/**
 * The cluster's own deploy/haproxy.cfg, run by Debian's haproxy in front of real gateway nodes:
 * the compose file's service names and ports (gateway-N:1883, :8083, :8080, `check port 8080`) are
 * rewritten to the nodes' loopback ports, the frontends bound to free ones; nothing else changes.
 * (The compose file pins haproxy:2.8; Debian gives 2.6, which reads the same config.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../gateway/storage/influxd.js';
import { waitFor } from './wait.js';

export interface NodePorts {
  readonly mqtt: number;
  readonly ws: number;
  readonly http: number;
}

export interface TestHaproxy {
  readonly ports: NodePorts;
  readonly child: ChildProcess;
  /** What it printed (its alerts say when a server goes down or up). */
  readonly output: () => string;
  stop(): Promise<void>;
}

export const HAPROXY_CFG = resolve(import.meta.dirname, '..', '..', 'deploy', 'haproxy.cfg');
const BINARY = process.env['HAPROXY'] ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

/**
 * HAProxy needs about two descriptors a connection: `maxconn 50000` wants ~100,000, which Docker's
 * default limit gives the container, and this machine's (20,000, not raisable) does not.
 */
const LOCAL_MAXCONN = 5000;

/**
 * The compose file's config with `gateway-N` as `nodes[N-1]` (servers with no node left out), the
 * frontends on `frontends`, and `maxconn` within this machine's open-file limit.
 */
export function localConfig(cfg: string, frontends: NodePorts, nodes: readonly NodePorts[]): string {
  const service = (p: NodePorts, port: string): number => ({ '1883': p.mqtt, '8083': p.ws, '8080': p.http })[port] ?? Number.NaN;
  const out: string[] = [];
  for (const line of cfg.split('\n')) {
    if (/^\s*maxconn\s+\d+\s*$/.test(line)) {
      out.push(line.replace(/\d+/, String(LOCAL_MAXCONN)));
      continue;
    }
    const bind = /^(\s*bind\s+):(\d+)\s*$/.exec(line);
    if (bind) {
      out.push(`${bind[1]}127.0.0.1:${service(frontends, bind[2]!)}`);
      continue;
    }
    const server = /^(\s*server\s+gateway-(\d+)\s+)gateway-\d+:(\d+)(.*)$/.exec(line);
    if (server) {
      const node = nodes[Number(server[2]) - 1];
      if (!node) continue;
      const rest = server[4]!.replace(/check port (\d+)/, (_, p: string) => `check port ${service(node, p)}`);
      out.push(`${server[1]}127.0.0.1:${service(node, server[3]!)}${rest}`);
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

const listening = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });

export async function startHaproxy(nodes: readonly NodePorts[]): Promise<TestHaproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-test-haproxy-'));
  const ports = { mqtt: await freePort(), ws: await freePort(), http: await freePort() };
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, localConfig(await readFile(HAPROXY_CFG, 'utf8'), ports, nodes));
  // -db: in the foreground, not a daemon; its alerts on stderr.
  const child = spawn(BINARY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${output.trim().slice(-500)}`);
      return (await listening(ports.mqtt)) && (await listening(ports.http));
    },
    'haproxy listening',
    10_000,
    50,
  );
  return {
    ports,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
