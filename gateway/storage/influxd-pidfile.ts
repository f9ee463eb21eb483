import { existsSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The embedded influxd's pid file (`DATA_DIR/influxdb/influxd.pid`): what a gateway killed with
 * SIGKILL leaves behind so the next start can find the influxd it left running (an orphan, in
 * its own process group) and stop it, instead of taking it for someone else's InfluxDB.
 */
export interface PidRecord {
  readonly pid: number;
  readonly url: string;
  readonly startedAt: string;
}

export const pidFileIn = (dataDir: string): string => join(dataDir, 'influxd.pid');

export async function writePidFile(dataDir: string, record: PidRecord): Promise<void> {
  await writeFile(pidFileIn(dataDir), `${JSON.stringify(record)}\n`);
}

/** A pid file's text as a record, or undefined when it is not one. */
function parseRecord(text: string): PidRecord | undefined {
  try {
    const record = JSON.parse(text) as Partial<PidRecord>;
    return typeof record.pid === 'number' && Number.isInteger(record.pid) && record.pid > 0 ? (record as PidRecord) : undefined;
  } catch {
    return undefined;
  }
}

export async function readPidFile(dataDir: string): Promise<PidRecord | undefined> {
  return parseRecord(await readFile(pidFileIn(dataDir), 'utf8').catch(() => ''));
}

/**
 * Where the embedded InfluxDB of the gateway using `dataDir` listens, if one runs (its pid alive):
 * what the tools read when INFLUX_URL is unset, whatever EMBEDDED_INFLUX_PORT picked.
 */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  let text = '';
  try {
    text = readFileSync(pidFileIn(join(dataDir, 'influxdb')), 'utf8');
  } catch {
    return undefined;
  }
  const record = parseRecord(text);
  return record && typeof record.url === 'string' && alive(record.pid) ? record.url : undefined;
}

export async function removePidFile(dataDir: string): Promise<void> {
  await rm(pidFileIn(dataDir), { force: true });
}

/** For `process.on('exit')`, where only synchronous calls run. */
export function removePidFileSync(dataDir: string): void {
  rmSync(pidFileIn(dataDir), { force: true });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // An orphan that exited waits as a zombie until whoever adopted it reaps it: it is gone.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * True when `pid` is an influxd running on this data directory: its command line names influxd
 * and its environment points INFLUXDB_META_DIR into `dataDir` (so a pid reused by an unrelated
 * process, or another gateway's influxd, is never touched). Linux only (/proc); elsewhere false.
 */
export function isOurInfluxd(pid: number, dataDir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!cmdline.some((arg) => /(^|\/)influxd$/.test(arg))) return false;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return environ.includes(`INFLUXDB_META_DIR=${join(dataDir, 'meta')}`);
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function terminate(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      signal('SIGKILL');
      break;
    }
    await sleep(50);
  }
  while (alive(pid)) await sleep(20);
}

/**
 * Whether the process `pid` is what listens on TCP `port` (its sockets' inodes against the
 * kernel's listening sockets): another InfluxDB that took the same port answers /ping just as
 * well. Linux only (/proc); elsewhere, or where its fds cannot be read, true.
 */
export async function listensOn(pid: number | undefined, port: number): Promise<boolean> {
  if (pid === undefined) return false;
  if (!existsSync('/proc/self/fd')) return true;
  try {
    const inodes = new Set<string>();
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    }
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const rows = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
      for (const row of rows) {
        // sl local_address rem_address st … inode: a listening socket (st 0A) on the port.
        const f = row.trim().split(/\s+/);
        if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && inodes.has(f[9] ?? '')) return true;
      }
    }
    return false;
  } catch (err) {
    // Gone: not listening. Its fds not ours to read (a hardened /proc): /ping alone must do.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
