import { spawn } from 'node:child_process';
import { constants, createWriteStream, existsSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { findInfluxd } from './influxd.js';
import { logError } from '../core/errors.js';

/**
 * A fresh machine: `npm start` with no InfluxDB installed installs Debian's `influxdb` through
 * the same `scripts/setup.sh` the tests use, when it can (root or passwordless sudo, and apt),
 * so the first command ends with readings stored. Where it cannot, it names the one command to run.
 */

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(command: string, args: readonly string[], logFile?: string): Promise<number | null> {
  return new Promise((resolve) => {
    const out = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    const child = spawn(command, args, { stdio: ['ignore', out ? 'pipe' : 'ignore', out ? 'pipe' : 'ignore'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (out) {
      child.stdout?.pipe(out, { end: false });
      child.stderr?.pipe(out, { end: false });
    }
    child.once('error', () => resolve(null));
    child.once('close', (code) => {
      out?.end();
      resolve(code);
    });
  });
}

/** The repository's scripts/setup.sh, from the sources or from dist/ (absent in the Docker image). */
export function setupScript(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'scripts', 'setup.sh');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

export type InstallAbility = { readonly can: true; readonly script: string } | { readonly can: false; readonly command: string };

/** Whether this process may install packages (root or passwordless sudo, apt-get, the script), else the one command a person should run. */
export async function installAbility(): Promise<InstallAbility> {
  const apt = await onPath('apt-get');
  const script = setupScript();
  if (!apt) return { can: false, command: 'docker run -d -p 127.0.0.1:8086:8086 influxdb:1.8 (or install InfluxDB 1.x from your distribution)' };
  const root = process.getuid?.() === 0;
  const sudo = !root && (await onPath('sudo')) !== undefined && (await run('sudo', ['-n', 'true'])) === 0;
  if (!script || !(root || sudo)) return { can: false, command: 'sudo apt-get install -y influxdb' };
  return { can: true, script };
}

/**
 * Installs InfluxDB with scripts/setup.sh when it can, saying so in one line (apt's own output
 * goes to `<logDir>/setup.log`); returns the installed influxd, or undefined after saying what
 * to run instead.
 */
export async function installInfluxd(log: Logger, logDir: string): Promise<string | undefined> {
  const ability = await installAbility();
  const after = 'then restart the gateway (or set INFLUX_URL to an InfluxDB you run). Meanwhile it runs on and events wait in the spool';
  if (!ability.can) {
    logError(log, 'GW_ERR_INFLUX_NOT_INSTALLED', {}, `InfluxDB is not installed and this user cannot install it: run \`${ability.command}\`, ${after}`);
    return undefined;
  }
  await mkdir(logDir, { recursive: true });
  const logFile = join(logDir, 'setup.log');
  log.info({ script: ability.script, log: logFile }, "InfluxDB is not installed: installing Debian's influxdb with scripts/setup.sh (about a minute; EMBEDDED_INFLUX=never turns this off)");
  const code = await run('bash', [ability.script, 'influxdb'], logFile);
  const binary = await findInfluxd();
  if (code !== 0 || !binary) {
    logError(log, 'GW_ERR_INFLUX_NOT_INSTALLED', { exitCode: code, log: logFile }, `installing InfluxDB failed (see ${logFile}): run \`sudo apt-get install -y influxdb\`, ${after}`);
    return undefined;
  }
  log.info({ influxd: binary }, 'InfluxDB installed');
  return binary;
}
