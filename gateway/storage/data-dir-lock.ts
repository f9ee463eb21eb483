import { readFileSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import { alive } from './influxd-pidfile.js';

/** DATA_DIR's lock: the pid of the gateway using it. */
export const LOCK_FILE = 'gateway.lock';

/** Whether `pid` is a running Node process (another gateway), as far as this machine tells. */
function isRunningGateway(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    // After a reboot the pid may be some other program's: only a Node process counts.
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('node');
  } catch {
    return true;
  }
}

/**
 * Takes DATA_DIR for this gateway. Two gateways on one DATA_DIR would share its spool (each
 * draining and appending the other's records) and the embedded InfluxDB's pidfile (the second
 * would stop the first one's influxd as one "left running"). A lock left by a gateway that no
 * longer runs (killed) is taken over; one of this process (a gateway started again in it) too.
 * `leftBehind`: a lock was there, so the last run did not stop (killed, or its machine lost
 * power; after a reboot the same pid may be this process's, as in a container): devices/power-cut.ts.
 */
export async function lockDataDir(dir: string, log: Logger): Promise<{ stop(): Promise<void>; readonly leftBehind: boolean }> {
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  let leftBehind = false;
  try {
    await writeFile(path, mine, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new GatewayError('GW_ERR_DATA_DIR', `DATA_DIR=${dir}: ${(err as Error).message}`, { cause: err });
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunningGateway(holder)) {
      throw new GatewayError(
        'GW_ERR_DATA_DIR',
        `DATA_DIR=${dir} is in use by another gateway (pid ${holder}, ${path}): give this one its own DATA_DIR (and EMBEDDED_INFLUX_PORT=0, or INFLUX_URL), or stop that one`,
      );
    }
    if (holder !== process.pid) log.info({ path, pid: Number.isInteger(holder) ? holder : undefined }, 'DATA_DIR was locked by a gateway that no longer runs: taken over');
    await writeFile(path, mine);
    leftBehind = true;
  }
  return {
    leftBehind,
    async stop() {
      // Only our own: a gateway that took the lock over since (this one hung) keeps it.
      if ((await readFile(path, 'utf8').catch(() => '')) === mine) await unlink(path).catch(() => undefined);
    },
  };
}
