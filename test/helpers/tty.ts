/**
 * A command on a terminal, as a person runs it: under `script` (util-linux), which gives it a
 * pseudo-terminal, so `process.stdout.isTTY` is true and Ctrl-C (written as \x03) becomes a
 * SIGINT from the terminal to its foreground process group, as it does at a keyboard.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './process.js';
import { waitFor } from './wait.js';

export interface TtyProcess {
  readonly child: ChildProcess;
  /** Everything the terminal showed so far, escape codes removed, \r\n made \n. */
  output(): string;
  /** The exit code of the command (script -e passes it on). */
  readonly exited: Promise<number | null>;
  waitForOutput(match: RegExp, what: string, timeoutMs?: number): Promise<string>;
  /** Ctrl-C at the keyboard. */
  interrupt(): void;
}

const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function spawnInTty(args: readonly string[], env: Record<string, string | undefined> = {}): TtyProcess {
  // `exec`: script runs the command through $SHELL -c; without it a shell that does not replace
  // itself (dash, /bin/sh when SHELL is unset, as in CI) also takes the Ctrl-C and exits 130.
  const child = spawn('script', ['-q', '-e', '-c', `exec ${args.map(quote).join(' ')}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, TERM: 'xterm', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let raw = '';
  child.stdout?.on('data', (d: Buffer) => (raw += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (raw += d.toString()));
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const output = (): string => raw.replace(ANSI, '').replace(/\r\n/g, '\n');
  return {
    child,
    output,
    exited,
    waitForOutput: (match, what, timeoutMs = 30_000) =>
      waitFor(() => {
        const text = output();
        if (match.test(text)) return text;
        if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before ${what}:\n${text.slice(-2000)}`);
        return undefined;
      }, what, timeoutMs),
    interrupt: () => void child.stdin?.write('\x03'),
  };
}

/** The gateway as `npm start` runs it (compiled or not, the same main), on a terminal. */
export function gatewayInTty(env: Record<string, string | undefined>): TtyProcess {
  return spawnInTty([process.execPath, '--import', 'tsx', 'gateway/main.ts'], { LOG_LEVEL: 'info', ...env });
}
