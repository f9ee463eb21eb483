/** A real gateway in the test process: ports 0, its own DATA_DIR and database, logs captured as JSON. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import type { Clock } from '../../gateway/core/clock.js';
import type { ManualClock } from '../../gateway/core/manual-clock.js';
import { loadSettings } from '../../gateway/config/settings.js';
import { Gateway, type GatewayOptions, type RunningGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/observability/log.js';
import { uniqueDb } from './influx.js';

export const REPO_RULES = resolve(import.meta.dirname, '..', '..', 'rules');
/** A pack that commands at once on every change (no held-for, no minimum on/off): for tests about something else. */
export const SIMPLE_RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-simple');

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly running: RunningGateway;
  readonly mqttUrl: string;
  readonly wsUrl: string;
  readonly httpUrl: string;
  readonly influxUrl: string;
  readonly db: string;
  readonly dataDir: string;
  readonly logs: LogLine[];
  stop(): Promise<void>;
}

export interface TestGatewayOptions {
  readonly env?: Record<string, string>;
  readonly rulesDir?: string;
  readonly dataDir?: string;
  readonly db?: string;
  readonly influxUrl?: string;
  readonly clock?: Clock;
  readonly embedded?: GatewayOptions['embedded'];
  /** The spool's disk (a test makes its calls fail). */
  readonly spoolDisk?: GatewayOptions['spoolDisk'];
}

export function captureLogs(): { lines: LogLine[]; stream: Writable } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { lines, stream };
}

export async function startGateway(o: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'gw-test-data-')));
  const db = o.db ?? uniqueDb();
  const influxUrl = o.influxUrl ?? inject('influxUrl');
  const env: Record<string, string> = {
    MQTT_PORT: '0',
    MQTT_WS_PORT: '0',
    HTTP_PORT: '0',
    INFLUX_URL: influxUrl,
    INFLUX_DB: db,
    INFLUX_FLUSH_MS: '20',
    RULES_DIR: o.rulesDir ?? REPO_RULES,
    DATA_DIR: dataDir,
    // Never the developer's own devices.yaml at the project root.
    DEVICES_FILE: join(dataDir, 'devices.yaml'),
    LOG_LEVEL: 'info',
    // Whether a start follows a power cut of the host is the test's to say, not the machine's uptime
    // (a CI machine just booted would make every killed gateway's restart one).
    POWER_CUT_BOOT_MS: '0',
    ...o.env,
  };
  // The embedded-InfluxDB tests leave INFLUX_URL unset, as a newcomer would.
  if (o.embedded) delete env['INFLUX_URL'];
  const settings = loadSettings(env);
  const { lines, stream } = captureLogs();
  const gateway = new Gateway(settings, { log: createLogger(settings.logLevel, stream), clock: o.clock, embedded: o.embedded, spoolDisk: o.spoolDisk });
  const running = await gateway.start();
  return {
    gateway,
    running,
    mqttUrl: `mqtt://127.0.0.1:${running.ports.mqtt}`,
    wsUrl: `ws://127.0.0.1:${running.ports.ws}/mqtt`,
    httpUrl: `http://127.0.0.1:${running.ports.http}`,
    influxUrl,
    db,
    dataDir,
    logs: lines,
    async stop() {
      await gateway.stop();
      if (!o.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Moves a gateway's manual clock on by `ms`, letting the rules finish each timer's run before the next. */
export async function advanceRules(gw: TestGateway, clock: ManualClock, ms: number): Promise<void> {
  const target = clock.now() + ms;
  await gw.gateway.rules.idle();
  while (clock.fireNext(target)) await gw.gateway.rules.idle();
  clock.advanceTo(target);
}
