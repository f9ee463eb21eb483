/**
 * `npm start`: reads the settings from the environment, starts the gateway, and stops it
 * gracefully on SIGINT/SIGTERM (exit 0). A bad setting or a port in use exits 1 with a message
 * that names the setting (and no stack trace: those are for bugs).
 */
import { loadSettings, unknownSettings } from './config/settings.js';
import { GatewayError, logWarn } from './core/errors.js';
import { Gateway } from './gateway.js';
import { createLogger } from './observability/log.js';
import { flushLogs } from './observability/log-destination.js';
import { logDestination } from './observability/log-terminal.js';

/** Exits once the logs had one try at being written (never waiting on a log that cannot be). */
function exit(code: number): never {
  flushLogs();
  process.exit(code);
}

async function main(): Promise<void> {
  // An empty TZ (compose passes `${TZ:-}` through) means "the system's", not ICU's "Etc/Unknown".
  if (process.env['TZ'] === '') delete process.env['TZ'];
  let settings;
  try {
    settings = loadSettings();
  } catch (err) {
    const format = process.env['LOG_FORMAT'] === 'json' || process.env['LOG_FORMAT'] === 'pretty' ? process.env['LOG_FORMAT'] : 'auto';
    createLogger('info', logDestination(format)).fatal({ code: (err as GatewayError).code }, (err as Error).message);
    exit(1);
  }
  const gateway = new Gateway(settings, { log: createLogger(settings.logLevel, logDestination(settings.logFormat)) });
  for (const { name, closest } of unknownSettings(process.env)) {
    logWarn(gateway.log, 'GW_ERR_SETTINGS', { variable: name, closest }, `${name} is not a setting of the gateway (ignored): did you mean ${closest}? (README, "Settings")`);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    // Ctrl-C in a terminal signals npm's whole group, and npm forwards it to the gateway again: one
    // stop, however many signals (a second one's default action would kill it mid-stop, its lock left).
    if (stopping) return void gateway.log.info({ signal }, 'already shutting down (forced after 20 s)');
    stopping = true;
    gateway.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      gateway.log.error('shutdown took longer than 20 s; exiting');
      exit(1);
    }, 20_000);
    force.unref();
    gateway.stop().then(
      () => exit(0),
      (err: unknown) => {
        gateway.log.error({ err }, 'error while stopping');
        exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The terminal closed: by default Node would die on the spot, leaving the embedded influxd running.
  process.on('SIGHUP', () => stop('SIGHUP'));
  process.on('unhandledRejection', (err) => gateway.log.error({ err }, 'unhandled rejection (a bug; the gateway keeps running)'));
  try {
    await gateway.start();
  } catch (err) {
    // An expected failure (a port in use, a bad file) is its code and message; anything else is a bug and keeps its stack.
    if (err instanceof GatewayError) gateway.log.fatal({ code: err.code }, `gateway could not start: ${err.message}`);
    else gateway.log.fatal({ err }, `gateway could not start: ${(err as Error).message}`);
    await gateway.stop().catch(() => undefined);
    exit(1);
  }
}

void main();
