import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Access } from './broker/access.js';
import { MqttBroker, type BoundPorts } from './broker/broker.js';
import { CredentialStore } from './broker/credentials.js';
import { ensureInitialCredentials } from './broker/initial-credentials.js';
import { createTlsListeners } from './broker/tls.js';
import { EventBus } from './bus.js';
import { systemClock, type Clock } from './clock.js';
import { usesInflux2, type Settings } from './config/settings.js';
import { GatewayError } from './errors.js';
import { Metrics } from './http/metrics.js';
import { HttpServer, type Readiness } from './http/server.js';
import { LiveView } from './http/live.js';
import { StatsReporter } from './http/stats.js';
import { Ingest } from './ingest/ingest.js';
import { SilenceWatch } from './ingest/silence.js';
import { createLogger } from './log.js';
import { RulesService } from './rules/service.js';
import { Influx1Writer } from './storage/influx1.js';
import { Influx2Writer } from './storage/influx2.js';
import { installInfluxd } from './storage/influx-install.js';
import { EmbeddedInflux, INSTALL_HINT, findInfluxd, pingInflux, reclaimOrphan } from './storage/influxd.js';
import { Journal } from './storage/journal.js';
import { InfluxSink } from './storage/sink.js';
import type { PointWriter } from './storage/writer.js';

export interface GatewayOptions {
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Where the embedded-InfluxDB default looks and what it runs (tests move both). */
  readonly embedded?: {
    /** The address tried when INFLUX_URL is unset (default: INFLUX_URL's default). */
    readonly defaultUrl?: string;
    /** The influxd to run; null = behave as if none were installed. */
    readonly binary?: string | null;
  };
}

export interface RunningGateway {
  readonly ports: BoundPorts & { readonly http: number };
  readonly host: string;
  /** Where events are written. */
  readonly influx: string;
  /** The time zone of the rules' time of day. */
  readonly timeZone: string;
}

/**
 * The gateway: wires the broker, ingest, rules, the spool and the InfluxDB sink, and the HTTP
 * endpoints, and starts and stops them in order. Nothing else lives here.
 */
export class Gateway {
  readonly log: Logger;
  readonly clock: Clock;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  private readonly dataDir: string;
  private journal: Journal | undefined;
  private sink: InfluxSink | undefined;
  private broker: MqttBroker | undefined;
  private http: HttpServer | undefined;
  private embedded: EmbeddedInflux | undefined;
  private rulesService: RulesService | undefined;
  private ingestService: Ingest | undefined;
  private live: LiveView | undefined;
  private stats: StatsReporter | undefined;
  private silence: SilenceWatch | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly settings: Settings,
    private readonly options: GatewayOptions = {},
  ) {
    this.log = options.log ?? createLogger(settings.logLevel);
    this.clock = options.clock ?? systemClock;
    this.bus = new EventBus(this.log);
    this.dataDir = resolve(settings.dataDir);
    this.metrics = new Metrics({
      spool: () => this.journal?.stats() ?? { bytes: 0, events: 0, oldestAppendedAt: undefined },
      connectedClients: () => this.broker?.connectedClients ?? 0,
      influxUp: () => this.sink?.influxUp ?? false,
      now: () => this.clock.now(),
    });
  }

  get rules(): RulesService {
    if (!this.rulesService) throw new Error('gateway not started');
    return this.rulesService;
  }

  get ingest(): Ingest {
    if (!this.ingestService) throw new Error('gateway not started');
    return this.ingestService;
  }

  get spool(): Journal {
    if (!this.journal) throw new Error('gateway not started');
    return this.journal;
  }

  async start(): Promise<RunningGateway> {
    const { settings, log } = this;
    try {
      await mkdir(this.dataDir, { recursive: true });
    } catch (err) {
      throw new GatewayError('GW_ERR_DATA_DIR', `DATA_DIR=${settings.dataDir}: ${(err as Error).message}`, { cause: err });
    }
    // Credentials and TLS files first: a bad one stops the start before anything is opened.
    const accessOptions = this.accessOptions();
    await ensureInitialCredentials(accessOptions.store, settings.initialCredentials, this.dataDir, log.child({ component: 'credentials' }));
    const access = new Access(accessOptions);
    await access.start();
    const tlsListeners = createTlsListeners(
      { certFile: settings.tlsCertFile, keyFile: settings.tlsKeyFile, mqttsPort: settings.mqttTlsPort, wssPort: settings.mqttWssPort },
      (err, address) => access.onTlsError(err, address),
    );
    const writer = await this.chooseWriter();

    const journal = new Journal({ dir: join(this.dataDir, 'spool'), maxBytes: settings.spoolMaxBytes, log });
    await journal.open();
    this.journal = journal;

    const host = access.host;
    const broker = new MqttBroker({
      log: log.child({ component: 'broker' }),
      host,
      mqttPort: settings.mqttPort,
      wsPort: settings.mqttWsPort,
      extraServers: tlsListeners,
      guard: access,
      // A whole MQTT packet (header included) may come as one WebSocket message.
      wsMaxPayload: settings.maxPacketBytes ? settings.maxPacketBytes + 16 : undefined,
      hooks: {
        ...access.hooks,
        authorizePublish: (client, packet, callback) => {
          const refused = access.checkPublish(client, packet);
          if (refused) {
            callback(refused);
            return;
          }
          access.throttle(client, () => {
            const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
            const pending = this.ingest.handle(client?.id ?? null, { topic: packet.topic, payload, qos: packet.qos, dup: packet.dup, messageId: packet.messageId });
            if (pending) pending.then(() => callback(null), (err: Error) => callback(err));
            else callback(null);
          });
        },
      },
    });
    access.observe(broker.aedes);
    this.broker = broker;

    this.ingestService = new Ingest({
      journal,
      bus: this.bus,
      metrics: this.metrics,
      publisher: broker,
      clock: this.clock,
      log: log.child({ component: 'ingest' }),
      maxPayloadBytes: settings.maxPayloadBytes,
      staleAfterMs: settings.staleAfterMs,
      durableAck: settings.durableAck,
    });

    this.sink = new InfluxSink({
      journal,
      writer,
      metrics: this.metrics,
      log: log.child({ component: 'influx' }),
      batchSize: settings.influxBatchSize,
      flushMs: settings.influxFlushMs,
      onRejected: (line, reason) => {
        // Never feed a refused dead letter back in: that could loop.
        if (line.startsWith('deadletters,')) return;
        void this.ingest.deadLetter(null, { topic: `influx:${line.slice(0, line.search(/[, ]/))}`, payload: Buffer.from(line), qos: 0 }, 'rejected_by_store', reason);
      },
    });
    await this.sink.start();

    this.rulesService = new RulesService({
      bus: this.bus,
      publisher: broker,
      journal,
      metrics: this.metrics,
      log,
      clock: this.clock,
      rulesDir: settings.rulesDir,
      armedFile: join(this.dataDir, 'armed-zones.json'),
    });
    await this.rulesService.start();

    this.live = new LiveView({ bus: this.bus, clock: this.clock, log: log.child({ component: 'live' }), metrics: this.metrics, pushMs: settings.livePushMs });
    this.live.start();
    // Zones armed before a restart are armed from the first page view, not from the next change.
    this.live.seedArmed(this.rulesService.state.armedStates());
    this.silence = new SilenceWatch({ bus: this.bus, journal, clock: this.clock, log: log.child({ component: 'devices' }), offlineAfterMs: settings.offlineAfterMs });
    this.silence.start();
    this.stats = new StatsReporter({
      metrics: this.metrics,
      journal,
      clock: this.clock,
      log: log.child({ component: 'stats' }),
      intervalMs: settings.statsIntervalMs,
      spool: () => journal.stats(),
      connectedClients: () => broker.connectedClients,
      influxUp: () => this.sink?.influxUp ?? false,
    });
    await this.stats.start();

    const ports = await broker.start();
    this.http = new HttpServer({ log, host, port: settings.httpPort, metrics: this.metrics, readiness: () => this.readiness(), routes: this.live.routes() });
    this.http.route('/api/zones', this.rulesService.zonesRoute);
    const http = await this.http.start();
    // The rules' time of day (after hours) is this zone's: TZ, else the system's.
    const running = { ports: { ...ports, http }, host, influx: writer.description, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone };
    log.info(running, 'gateway started');
    return running;
  }

  /** Graceful stop: stop accepting, let acknowledged work finish, flush to InfluxDB, close. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('gateway stopping');
      // influxd stops last (the sink flushes to it first); its exit from here on is no news.
      this.embedded?.expectExit();
      await this.broker?.stop();
      await this.rulesService?.stop();
      this.silence?.stop();
      this.live?.stop();
      await this.stats?.stop();
      await this.sink?.stop();
      await this.journal?.close();
      await this.http?.stop();
      await this.embedded?.stop();
      this.log.info('gateway stopped');
    })();
    return this.stopping;
  }

  readiness(): Readiness {
    const { settings } = this;
    const influxUp = this.sink?.influxUp ?? false;
    const spool = this.journal?.stats();
    const full = this.journal?.isFull() ?? false;
    const draining = this.sink?.draining ?? true;
    const problems = this.rulesService?.loader.problems ?? new Map<string, string>();
    const ruleProblems = [...problems.values()];
    return {
      ready: influxUp && !full && draining,
      // The rules in force still run, so ready; but an operator's edit was refused.
      degraded: ruleProblems.length > 0,
      checks: {
        influxdb: { ok: influxUp, detail: influxUp ? 'reachable' : 'unreachable: events wait in the spool' },
        spool: { ok: !full && draining, detail: `${spool?.events ?? 0} events, ${spool?.bytes ?? 0} bytes waiting${draining ? '' : '; cannot be read back (GW_ERR_SPOOL_READ)'}` },
        rules: { ok: ruleProblems.length === 0, ...(ruleProblems.length > 0 ? { detail: ruleProblems.join(' | '), files: [...problems.keys()].map((f) => join(settings.rulesDir, f)) } : {}) },
      },
    };
  }

  private accessOptions(): ConstructorParameters<typeof Access>[0] {
    const { settings, log } = this;
    const credentialsFile = resolve(settings.credentialsFile || join(this.dataDir, 'credentials.json'));
    return {
      store: new CredentialStore(credentialsFile, log.child({ component: 'credentials' })),
      metrics: this.metrics,
      log: log.child({ component: 'access' }),
      allowAnonymous: settings.allowAnonymous,
      anonymousRole: settings.anonymousRole,
      bindHost: settings.bindHost,
      maxConnections: settings.maxConnections,
      maxPacketBytes: settings.maxPacketBytes,
      topics: { maxLength: settings.maxTopicLength, maxLevels: settings.maxTopicLevels },
      publishRate: settings.publishRate,
      publishBurst: settings.publishBurst,
      loginBackoffAfter: settings.loginBackoffAfter,
      loginBackoffMaxMs: settings.loginBackoffMaxMs,
    };
  }

  private async chooseWriter(): Promise<PointWriter> {
    const { settings, log } = this;
    if (usesInflux2(settings)) return new Influx2Writer(settings.influxUrl, settings.influxToken, settings.influxOrg, settings.influxBucket, settings.influxTimeoutMs);
    if (settings.explicit.has('influxUrl') || settings.embeddedInflux !== 'auto') return new Influx1Writer(settings.influxUrl, settings.influxDb, settings.influxTimeoutMs);
    const url = this.options.embedded?.defaultUrl ?? `http://127.0.0.1:${settings.embeddedInfluxPort}`;
    const port = Number(new URL(url).port || 8086);
    const dir = join(this.dataDir, 'influxdb');
    const influxLog = log.child({ component: 'influxd' });
    // Before asking whether something answers: an orphan of ours would answer, and be taken for someone else's.
    await reclaimOrphan(dir, influxLog);
    if (port !== 0 && (await pingInflux(url))) return new Influx1Writer(url, settings.influxDb, settings.influxTimeoutMs);
    // `binary: null` (tests): as if none were installed, nor could be.
    const given = this.options.embedded?.binary;
    const binary = given === null ? undefined : (given ?? (await findInfluxd()) ?? (await installInfluxd(influxLog, dir)));
    if (!binary) {
      if (given === null) log.error({ code: 'GW_ERR_INFLUX_NOT_INSTALLED', url }, `no InfluxDB answers at ${url} and none is installed: ${INSTALL_HINT}. The gateway runs on; events wait in the spool.`);
      return new Influx1Writer(url, settings.influxDb, settings.influxTimeoutMs);
    }
    this.embedded = new EmbeddedInflux(dir, port, influxLog, binary);
    try {
      await this.embedded.start();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not start the embedded InfluxDB; events wait in the spool');
    }
    return new Influx1Writer(this.embedded.url ?? url, settings.influxDb, settings.influxTimeoutMs);
  }
}
