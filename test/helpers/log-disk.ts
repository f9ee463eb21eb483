/**
 * The gateway as a real process whose stdout (its log) goes to a file descriptor the test
 * chooses: a file on a small tmpfs, or /dev/full. Its logs cannot be read through a pipe, so
 * the test picks the HTTP port itself and asks /healthz.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ROOT } from './process.js';

export interface LoggingToProcess {
  readonly child: ChildProcess;
  readonly stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string | null>;
  /** Resolves with what happened first: the exit, or `still running` after `ms`. */
  exitWithin(ms: number): Promise<number | string | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function spawnGatewayLoggingTo(stdoutFd: number, env: Record<string, string>): LoggingToProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', stdoutFd, 'pipe'] });
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return {
    child,
    stderr,
    exited,
    exitWithin(ms) {
      let timer: NodeJS.Timeout | undefined;
      const guard = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still running'), ms);
      });
      return Promise.race([exited, guard]).finally(() => clearTimeout(timer));
    },
  };
}
