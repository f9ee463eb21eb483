import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Access } from './broker/access.js';
import { SubscribedActuators } from './broker/actuators.js';
import { MqttBroker, type BoundPorts } from './broker/broker.js';
import { CredentialStore } from './broker/credentials.js';
import { ensureInitialCredentials } from './broker/initial-credentials.js';
import { Delivery } from './broker/delivery.js';
import { BoundedPersistence } from './broker/persistence.js';
import { PublishPipeline } from './broker/publish-pipeline.js';
import { RetainedLedger } from './broker/retained.js';
import { createTlsListeners } from './broker/tls.js';
import type { Settings } from './config/settings.js';
import { EventBus } from './core/bus.js';
import { systemClock, type Clock } from './core/clock.js';
import { firstOf } from './core/directory.js';
import { GatewayError } from './core/errors.js';
import { onKindsChanged } from './core/kinds.js';
import { Lifecycle } from './core/lifecycle.js';
import { ApiRoutes, actWithHttpAuth, type Authorize } from './http/actions.js';
import { DevicesService } from './devices/service.js';
import { HttpAuth } from './http/auth.js';
import { HttpServer, type Readiness } from './http/server.js';
import { LiveView } from './http/live.js';
import { Ingest } from './ingest/ingest.js';
import { SilenceWatch } from './ingest/silence.js';
import { Redriver } from './ingest/redrive.js';
import type { DeadLetterArchive } from './core/archive.js';
import { InfluxDeadLetterArchive } from './storage/deadletter-archive.js';
import { createLogger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { StatsReporter } from './observability/stats.js';
import { RulesService } from './rules/service.js';
import { EventStore } from './storage/event-store.js';
import { chooseWriter, type EmbeddedChoice } from './storage/influx-choice.js';
import type { EmbeddedInflux } from './storage/influxd.js';
import { Journal } from './storage/journal.js';
import { InfluxSink } from './storage/sink.js';
import type { SpoolDisk } from './storage/spool/disk.js';

export interface GatewayOptions {
  readonly log?: Logger;
  readonly clock?: Clock;
  /** Where the embedded-InfluxDB default looks and what it runs (tests move both). */
  readonly embedded?: EmbeddedChoice;
  /** Who may act over HTTP (acknowledge alarms, arm zones); default: an admin's credentials once HTTP asks for them. */
  readonly authorize?: Authorize;
  /** Every file call of the spool (tests make them fail: a full disk). */
  readonly spoolDisk?: SpoolDisk;
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
 * The composition root: builds the components in the order data flows (storage first, so
 * everything after it can keep events; the broker's listeners last, so nothing arrives before
 * the rules are loaded) and stops them in reverse, each stop on its own. Policy lives in the
 * components; this file only wires them.
 */
export class Gateway {
  readonly log: Logger;
  readonly clock: Clock;
  readonly bus: EventBus;
  readonly metrics: Metrics;
  private readonly dataDir: string;
  private readonly lifecycle: Lifecycle;
  private journal: Journal | undefined;
  private sink: InfluxSink | undefined;
  private broker: MqttBroker | undefined;
  private rulesService: RulesService | undefined;
  private ingestService: Ingest | undefined;
  private embedded: EmbeddedInflux | undefined;
  private devicesService: DevicesService | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly settings: Settings,
    private readonly options: GatewayOptions = {},
  ) {
    this.log = options.log ?? createLogger(settings.logLevel);
    this.clock = options.clock ?? systemClock;
    this.bus = new EventBus(this.log);
    this.lifecycle = new Lifecycle(this.log);
    this.dataDir = resolve(settings.dataDir);
    this.metrics = new Metrics({
      spool: () => this.journal?.stats() ?? { bytes: 0, events: 0, oldestAppendedAt: undefined },
      spoolDisk: () => ({ freeBytes: this.journal?.diskFreeBytes, writeFailing: this.journal?.problem?.startsWith('cannot write') ?? false }),
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

  get devices(): DevicesService {
    if (!this.devicesService) throw new Error('gateway not started');
    return this.devicesService;
  }

  get spool(): Journal {
    if (!this.journal) throw new Error('gateway not started');
    return this.journal;
  }

  async start(): Promise<RunningGateway> {
    const { settings, log, clock, bus, metrics, lifecycle } = this;
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
    // HTTP asks for the same credentials, through the same login guard (an HTTP_AUTH that cannot hold stops the start here).
    const auth = new HttpAuth({ store: accessOptions.store, login: access.login, metrics, log: log.child({ component: 'http' }), mode: settings.httpAuth, host: access.host });
    const tlsListeners = createTlsListeners(
      {
        certFile: settings.tlsCertFile,
        keyFile: settings.tlsKeyFile,
        mqttsPort: settings.mqttTlsPort,
        wssPort: settings.mqttWssPort,
        connectTimeoutMs: settings.connectTimeoutMs,
      },
      (err, address) => access.onTlsError(err, address),
    );

    // Storage: where events go, the spool, and the store port over it.
    const { writer, embedded, v1Url, history: historyOver } = await chooseWriter(settings, this.dataDir, log, this.options.embedded);
    if (embedded) this.embedded = lifecycle.add('embedded InfluxDB', embedded);
    const journal = new Journal({ dir: join(this.dataDir, 'spool'), maxBytes: settings.spoolMaxBytes, minFreeBytes: settings.spoolMinFreeBytes, log }, this.options.spoolDisk);
    lifecycle.add('spool', { stop: () => journal.close() });
    // The store remembers the points the spool recovers: no event kept from now on takes one of them.
    const store = new EventStore(journal, { startMs: clock.now() });
    await journal.open((body, precision) => store.recall(body, precision === 'ns'));
    this.journal = journal;

    // The broker exists before ingest (ingest publishes dead letters through it) but listens last.
    const pipeline = new PublishPipeline(access, new RetainedLedger({ metrics, maxBytesPerClient: settings.maxRetainedBytesPerClient, maxBytes: settings.maxRetainedBytes }));
    const persistence = this.persistence(access);
    const delivery = new Delivery({ access, metrics, maxClientBufferBytes: settings.maxClientBufferBytes, slowClientTimeoutMs: settings.slowClientTimeoutMs });
    const broker = new MqttBroker({
      log: log.child({ component: 'broker' }),
      host: access.host,
      mqttPort: settings.mqttPort,
      wsPort: settings.mqttWsPort,
      extraServers: tlsListeners,
      guard: access,
      // A whole MQTT packet (header included) may come as one WebSocket message.
      wsMaxPayload: settings.maxPacketBytes ? settings.maxPacketBytes + 16 : undefined,
      hooks: { ...access.hooks, authorizePublish: pipeline.authorizePublish, authorizeForward: delivery.authorizeForward },
      persistence,
      connectTimeoutMs: settings.connectTimeoutMs,
      drainTimeoutMs: settings.slowClientTimeoutMs,
      writeBufferBytes: settings.maxClientBufferBytes,
      maxInflightQos2: settings.maxInflightQos2,
    });
    access.observe(broker.aedes);
    this.broker = broker;
    // Contract actuators are known by their subscription to exactly commands/<site>/<zone>/<actuator>.
    const actuators = new SubscribedActuators();
    actuators.observe(broker.aedes);

    // The device map before ingest and the rules: the kinds it adds must be known to both.
    const devices = lifecycle.add(
      'devices',
      new DevicesService({
        file: resolve(settings.devicesFile),
        zigbee2mqttBaseTopic: settings.zigbee2mqttBaseTopic,
        discoveryPrefix: settings.discoveryPrefix,
        bus,
        publisher: broker,
        store,
        metrics,
        clock,
        log: log.child({ component: 'devices' }),
      }),
    );
    await devices.start();
    this.devicesService = devices;

    const ingest = new Ingest({
      store,
      bus,
      metrics,
      publisher: broker,
      clock,
      log: log.child({ component: 'ingest' }),
      maxPayloadBytes: settings.maxPayloadBytes,
      staleAfterMs: settings.staleAfterMs,
      durableAck: settings.durableAck,
      actuators: firstOf(actuators),
      // The rules exist once ingest does anything (the broker listens last).
      alarms: { knows: (id, site) => this.rulesService?.alarmDirectory.knows(id, site) ?? false },
      native: devices.router,
    });
    pipeline.deliverTo(ingest);
    this.ingestService = ingest;

    const sink = lifecycle.add(
      'InfluxDB sink',
      new InfluxSink({
        journal,
        writer,
        metrics,
        log: log.child({ component: 'influx' }),
        batchSize: settings.influxBatchSize,
        flushMs: settings.influxFlushMs,
        onRejected: (measurement, line, reason) => ingest.storeRefused(measurement, line, reason),
      }),
    );
    await sink.start();
    this.sink = sink;
    metrics.readFrom('deadLettersUnstored', () => sink.deadLettersUnstored);

    const history = historyOver({ pending: () => journal.stats().events, up: () => sink.influxUp });
    const rules = lifecycle.add(
      'rules',
      new RulesService({
        bus,
        publisher: broker,
        store,
        metrics,
        log,
        clock,
        rulesDir: settings.rulesDir,
        armedFile: join(this.dataDir, 'armed-zones.json'),
        history,
        commands: { confirmMs: settings.commandConfirmMs, retries: settings.commandRetries, holdMs: settings.manualHoldMs },
        rebuildWaitMs: settings.rebuildWaitMs,
      }),
    );
    await rules.start();
    this.rulesService = rules;
    // What the rules knew before this start, from what was stored (before anything new arrives).
    await rules.rebuild();
    const offKinds = onKindsChanged(() => void rules.kindsChanged());
    lifecycle.add('kinds watch', { stop: () => offKinds() });

    const live = lifecycle.add(
      'live view',
      new LiveView({
        bus,
        clock,
        log: log.child({ component: 'live' }),
        metrics,
        pushMs: settings.livePushMs,
        waiting: () => devices.waiting(),
        rules,
        maxViewers: settings.liveMaxViewers,
        maxViewersPerAddress: settings.liveMaxViewersPerAddress,
        maxBehindBytes: settings.liveMaxBehindBytes,
      }),
    );
    live.start();
    // The page opens on what the rules rebuilt: armed zones, the latest readings, actuators and alarms.
    live.seedArmed(rules.state.armedStates());
    live.seedReadings(rules.latestReadings());
    const silence = lifecycle.add('silence watch', new SilenceWatch({ bus, store, clock, log: log.child({ component: 'devices' }), offlineAfterMs: settings.offlineAfterMs }));
    silence.start();
    const stats = lifecycle.add(
      'stats',
      new StatsReporter({
        metrics,
        store,
        clock,
        log: log.child({ component: 'stats' }),
        intervalMs: settings.statsIntervalMs,
        spool: () => journal.stats(),
        connectedClients: () => broker.connectedClients,
        influxUp: () => sink.influxUp,
      }),
    );
    await stats.start();

    lifecycle.add('broker', broker);
    const ports = await broker.start();
    const http = lifecycle.add(
      'HTTP',
      new HttpServer({ log, host: access.host, port: settings.httpPort, metrics, readiness: () => this.readiness(), routes: live.routes(), auth, metricsPublic: settings.metricsPublic }),
    );
    http.route('/api/zones', rules.zonesRoute);
    const api = new ApiRoutes({ rules, log: log.child({ component: 'api' }), authorize: this.options.authorize ?? actWithHttpAuth(auth) });
    for (const [path, handler] of api.routes()) http.route(path, handler);
    for (const [prefix, handler] of api.prefixes()) http.routePrefix(prefix, handler);
    http.route('/api/devices', devices.devicesRoute);
    const archive: DeadLetterArchive = v1Url
      ? new InfluxDeadLetterArchive(v1Url, settings.influxDb)
      : { read: () => Promise.reject(new GatewayError('GW_ERR_REDRIVE', 'a redrive reads dead letters through the InfluxDB 1.x API; this gateway writes through 2.x')) };
    const redriver = new Redriver({ ingest, archive, log: log.child({ component: 'redrive' }), before: () => devices.reload(), committed: () => store.committed(), now: () => clock.now() });
    http.route('/api/deadletters/redrive', redriver.route, 'act');
    // The rules' time of day (after hours) is this zone's: TZ, else the system's.
    const running = { ports: { ...ports, http: await http.start() }, host: access.host, influx: writer.description, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone };
    log.info(running, 'gateway started');
    return running;
  }

  /** Graceful stop: stop accepting, let acknowledged work finish, flush to InfluxDB, close; each part on its own. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('gateway stopping');
      // influxd stops last (the sink flushes to it first); its exit from here on is no news.
      this.embedded?.expectExit();
      const failed = await this.lifecycle.stopAll();
      this.log.info(failed.length > 0 ? { failed } : {}, 'gateway stopped');
    })();
    return this.stopping;
  }

  readiness(): Readiness {
    const { settings } = this;
    const influxUp = this.sink?.influxUp ?? false;
    const writeProblem = this.sink?.writeProblem;
    const spool = this.journal?.stats();
    const full = this.journal?.isFull() ?? false;
    const spoolProblem = this.journal?.problem;
    const draining = this.sink?.draining ?? true;
    const problems = this.rulesService?.loader.problems ?? new Map<string, string>();
    const ruleProblems = [...problems.values()];
    const rebuilt = this.rulesService?.rebuildResult;
    if (rebuilt && !rebuilt.ok) ruleProblems.push(`started without history (GW_ERR_HISTORY): ${rebuilt.problem ?? 'InfluxDB could not be read'}`);
    return {
      ready: influxUp && writeProblem === undefined && !full && draining && spoolProblem === undefined,
      // The rules in force still run, so ready; but an operator's edit was refused.
      degraded: ruleProblems.length > 0,
      checks: {
        influxdb: { ok: influxUp && writeProblem === undefined, detail: !influxUp ? 'unreachable: events wait in the spool' : (writeProblem ?? 'reachable') },
        spool: {
          ok: !full && draining && spoolProblem === undefined,
          detail: `${spool?.events ?? 0} events, ${spool?.bytes ?? 0} bytes waiting${spoolProblem ? `; ${spoolProblem}` : full ? '; full (SPOOL_MAX_BYTES)' : ''}${draining ? '' : '; cannot be read back (GW_ERR_SPOOL_READ)'}`,
        },
        rules: { ok: ruleProblems.length === 0, ...(ruleProblems.length > 0 ? { detail: ruleProblems.join(' | '), files: [...problems.keys()].map((f) => join(settings.rulesDir, f)) } : {}) },
        devices: { ok: this.devicesService?.loader.problem === undefined, ...(this.devicesService?.loader.problem ? { detail: this.devicesService.loader.problem } : {}) },
      },
    };
  }

  /** Aedes' session state within the MQTT_MAX_INFLIGHT_QOS2*, MQTT_MAX_QUEUED_* and MQTT_SESSION_EXPIRY_S bounds. */
  private persistence(access: Access): BoundedPersistence {
    const { settings, metrics } = this;
    const persistence = new BoundedPersistence(
      {
        maxInflightQos2: settings.maxInflightQos2,
        maxInflightQos2Bytes: settings.maxInflightQos2Bytes,
        maxQueuedMessages: settings.maxQueuedMessages,
        maxQueuedBytes: settings.maxQueuedBytes,
        maxQueuedBytesTotal: settings.maxQueuedBytesTotal,
        sessionExpiryMs: settings.sessionExpiryS * 1000,
      },
      {
        takeGranted: (client) => access.subscriptions.takeGranted(client),
        onInflightRefused: (client, detail) => access.refuse('inflight_qos2', client, detail),
        onQueueDropped: (_clientId, dropped) => metrics.offlineDropped.inc(dropped),
        onSessionExpired: () => metrics.sessionsExpired.inc(),
      },
    );
    metrics.readFrom('inflightQos2', () => persistence.inflightQos2);
    metrics.readFrom('offlineQueuedMessages', () => persistence.queued.messages);
    metrics.readFrom('offlineQueuedBytes', () => persistence.queued.bytes);
    return persistence;
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
      nativeTopics: { discoveryPrefix: settings.discoveryPrefix, zigbee2mqttBase: settings.zigbee2mqttBaseTopic },
      loginUnknownUserBurst: settings.loginUnknownUserBurst,
      loginUnknownUserPerMin: settings.loginUnknownUserPerMin,
      loginMaxQueuedChecks: settings.loginMaxQueuedChecks,
      maxPendingConnections: settings.maxPendingConnections,
      maxPendingPerAddress: settings.maxPendingPerAddress,
      maxSubscriptions: settings.maxSubscriptions,
    };
  }
}
