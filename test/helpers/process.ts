/** The gateway as a real process (`node --import tsx gateway/main.ts`, what `npm start` runs), for signal and crash tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { LogLine } from './gateway.js';
import { waitFor } from './wait.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** Non-JSON output (stack traces, npm noise). */
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  waitForLog(match: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the bound ports once the gateway logged that it started. */
  started(timeoutMs?: number): Promise<{ mqtt: number; ws: number; http: number }>;
}

/** `nodeArgs` go after tsx's loader, before the script (e.g. a test-only `--import`, see helpers/gc-probe.ts). */
export function spawnGateway(env: Record<string, string | undefined>, nodeArgs: readonly string[] = []): GatewayProcess {
  // One process (node with tsx's loader), so SIGKILL hits the gateway itself, not a wrapper.
  return watch(spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, 'gateway/main.ts'], { cwd: ROOT, env: gatewayEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** `npm start` itself, as a supervisor runs it: npm, its shell, the build, then the compiled gateway. */
export function spawnNpmStart(env: Record<string, string | undefined>, o: { ownGroup?: boolean } = {}): GatewayProcess {
  // ownGroup: npm leads a process group of its own, as in a terminal (Ctrl-C signals the whole group).
  return watch(spawn('npm', ['start', '--silent'], { cwd: ROOT, env: gatewayEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: o.ownGroup === true }));
}

const gatewayEnv = (env: Record<string, string | undefined>): NodeJS.ProcessEnv => ({ ...process.env, LOG_LEVEL: 'info', POWER_CUT_BOOT_MS: '0', ...env });

function watch(child: ChildProcess): GatewayProcess {
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  if (!child.stdout || !child.stderr) throw new Error('spawned without pipes');
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      stderr.push(line);
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const waitForLog = (match: (l: LogLine) => boolean, what: string, timeoutMs = 30_000) =>
    waitFor(() => {
      if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}) before ${what}: ${[...stderr, ...logs.map((l) => l.msg)].slice(-10).join(' | ')}`);
      return logs.find(match);
    }, what, timeoutMs);
  return {
    child,
    logs,
    stderr,
    exited,
    waitForLog,
    async started(timeoutMs = 30_000) {
      const line = await waitForLog((l) => l.msg === 'gateway started', 'the gateway to start', timeoutMs);
      return line['ports'] as { mqtt: number; ws: number; http: number };
    },
  };
}
