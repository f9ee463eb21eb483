import { join } from 'node:path';
import type { Logger } from 'pino';
import { usesInflux2, type Settings } from '../config/settings.js';
import { logError } from '../core/errors.js';
import { InfluxHistory } from './history.js';
import { Influx1Writer } from './influx1.js';
import { Influx2Writer } from './influx2.js';
import { installInfluxd } from './influx-install.js';
import { EmbeddedInflux, INSTALL_HINT, findInfluxd, pingInflux, reclaimOrphan } from './influxd.js';
import type { PointWriter } from './writer.js';

export interface EmbeddedChoice {
  /** The address tried when INFLUX_URL is unset (default: 127.0.0.1 on EMBEDDED_INFLUX_PORT). */
  readonly defaultUrl?: string;
  /** The influxd to run; null = behave as if none were installed, nor could be. */
  readonly binary?: string | null;
}

/**
 * Where events are written: the 2.x API when its settings are given; else INFLUX_URL; else, when
 * nothing answers at the default address and EMBEDDED_INFLUX=auto, an influxd of our own under
 * DATA_DIR (installed first where the machine allows: the newcomer's first run). `embedded` is
 * set when one was started: stop it last.
 */
export async function chooseWriter(settings: Settings, dataDir: string, log: Logger, o: EmbeddedChoice = {}): Promise<Chosen> {
  if (usesInflux2(settings)) {
    return {
      writer: new Influx2Writer(settings.influxUrl, settings.influxToken, settings.influxOrg, settings.influxBucket, settings.influxTimeoutMs),
      // 2.x answers InfluxQL on /query for a bucket with a DBRP mapping (2.x makes virtual ones).
      history: (hooks) => new InfluxHistory({ url: settings.influxUrl, database: settings.influxBucket, token: settings.influxToken, ...hooks }),
    };
  }
  const influx1 = (url: string, embedded?: EmbeddedInflux): Chosen => ({
    writer: new Influx1Writer(url, settings.influxDb, settings.influxTimeoutMs),
    v1Url: url,
    ...(embedded ? { embedded } : {}),
    history: (hooks) => new InfluxHistory({ url, database: settings.influxDb, ...hooks }),
  });
  if (settings.explicit.has('influxUrl') || settings.embeddedInflux !== 'auto') return influx1(settings.influxUrl);
  const url = o.defaultUrl ?? `http://127.0.0.1:${settings.embeddedInfluxPort}`;
  const port = Number(new URL(url).port || 8086);
  const dir = join(dataDir, 'influxdb');
  const influxLog = log.child({ component: 'influxd' });
  // Before asking whether something answers: an orphan of ours would answer, and be taken for someone else's.
  await reclaimOrphan(dir, influxLog);
  if (port !== 0 && (await pingInflux(url))) {
    // Not ours: on a shared machine it may be someone else's, whose database INFLUX_DB this writes into.
    influxLog.info({ url, database: settings.influxDb }, `an InfluxDB already answers at ${url}: using it (database ${settings.influxDb}), not starting one of our own; set INFLUX_URL to choose, or EMBEDDED_INFLUX_PORT for our own on another port`);
    return influx1(url);
  }
  const given = o.binary;
  const binary = given === null ? undefined : (given ?? (await findInfluxd()) ?? (await installInfluxd(influxLog, dir)));
  if (!binary) {
    if (given === null) logError(log, 'GW_ERR_INFLUX_NOT_INSTALLED', { url }, `no InfluxDB answers at ${url} and none is installed: ${INSTALL_HINT}. The gateway runs on; events wait in the spool.`);
    return influx1(url);
  }
  const embedded = new EmbeddedInflux(dir, port, influxLog, binary);
  try {
    await embedded.start();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not start the embedded InfluxDB; events wait in the spool');
  }
  return influx1(embedded.url ?? url, embedded);
}

/** Where events go, the embedded InfluxDB when one was started, and the history over the same database. */
export interface Chosen {
  readonly writer: PointWriter;
  readonly embedded?: EmbeddedInflux;
  /** The 1.x URL written to (absent for 2.x). */
  readonly v1Url?: string;
  readonly history: (hooks: HistoryHooks) => InfluxHistory;
}

/** What the history needs from the spool and the sink to know when it has caught up. */
export interface HistoryHooks {
  readonly pending: () => number;
  readonly up: () => boolean;
}
