import { join } from 'node:path';
import { logError } from '../core/errors.js';
import type { Logger } from 'pino';
import { usesInflux2, type Settings } from '../config/settings.js';
import { InfluxHistory } from './history.js';
import { Influx1Writer } from './influx1.js';
import { Influx2Writer } from './influx2.js';
import { EmbeddedInflux, INSTALL_HINT, findInfluxd, pingInflux } from './influxd.js';
import type { PointWriter } from './writer.js';

export interface EmbeddedChoice {
  /** The address tried when INFLUX_URL is unset (default: INFLUX_URL's default). */
  readonly defaultUrl?: string;
  /** The influxd to run; null = behave as if none were installed. */
  readonly binary?: string | null;
}

/**
 * Where events are written: the 2.x API when its settings are given; else INFLUX_URL; else, when
 * nothing answers at the default address and EMBEDDED_INFLUX=auto, an influxd of our own under
 * DATA_DIR (the newcomer's first run). `embedded` is set when one was started: stop it last.
 */
export async function chooseWriter(settings: Settings, dataDir: string, log: Logger, o: EmbeddedChoice = {}): Promise<{ writer: PointWriter; embedded?: EmbeddedInflux; history: (o: HistoryHooks) => InfluxHistory }> {
  if (usesInflux2(settings)) {
    return {
      writer: new Influx2Writer(settings.influxUrl, settings.influxToken, settings.influxOrg, settings.influxBucket, settings.influxTimeoutMs),
      // 2.x answers InfluxQL on /query for a bucket with a DBRP mapping (2.x makes virtual ones).
      history: (hooks) => new InfluxHistory({ url: settings.influxUrl, database: settings.influxBucket, token: settings.influxToken, ...hooks }),
    };
  }
  const explicit = settings.explicit.has('influxUrl');
  let url = explicit ? settings.influxUrl : (o.defaultUrl ?? settings.influxUrl);
  let embedded: EmbeddedInflux | undefined;
  if (!explicit && settings.embeddedInflux === 'auto' && !(await pingInflux(url))) {
    const binary = o.binary === undefined ? await findInfluxd() : o.binary;
    if (binary) {
      embedded = new EmbeddedInflux(join(dataDir, 'influxdb'), Number(new URL(url).port || 8086), log.child({ component: 'influxd' }), binary);
      try {
        await embedded.start();
        url = embedded.url ?? url;
      } catch (err) {
        log.error({ err: (err as Error).message }, 'could not start the embedded InfluxDB; events wait in the spool');
      }
    } else {
      logError(log, 'GW_ERR_INFLUX_NOT_INSTALLED', { url }, `no InfluxDB answers at ${url} and none is installed: ${INSTALL_HINT}. The gateway runs on; events wait in the spool.`);
    }
  }
  return {
    writer: new Influx1Writer(url, settings.influxDb, settings.influxTimeoutMs),
    ...(embedded ? { embedded } : {}),
    history: (hooks) => new InfluxHistory({ url, database: settings.influxDb, ...hooks }),
  };
}

/** What the history needs from the spool and the sink to know when it has caught up. */
export interface HistoryHooks {
  readonly pending: () => number;
  readonly up: () => boolean;
}
