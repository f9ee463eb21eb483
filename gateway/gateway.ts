import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Access } from './broker/access.js';
import { SubscribedActuators, actuatorTrust } from './broker/actuators.js';
import type { BoundPorts, MqttBroker } from './broker/broker.js';
import { ensureInitialCredentials } from './broker/initial-credentials.js';
import { loadTlsMaterial } from './broker/tls.js';
import type { ClusterNode } from './cluster/node.js';
import { LiveRelay } from './cluster/live-relay.js';
import { accessOptions, clusterNode, devicesService, httpLimits, httpsOptions, liveView, mqttBroker, readinessOf, rulesService, seedFromHistory, statsReporter } from './composition.js';
import type { Settings } from './config/settings.js';
import { EventBus } from './core/bus.js';
import { systemClock, type Clock } from './core/clock.js';
import { firstOf } from './core/directory.js';
import { GatewayError } from './core/errors.js';
import { onKindsChanged } from './core/kinds.js';
import { Lifecycle } from './core/lifecycle.js';
import { LivenessBook } from './core/liveness.js';
import { ApiRoutes, actWithHttpAuth, type Authorize } from './http/actions.js';
import type { DevicesService } from './devices/service.js';
import { HttpAuth } from './http/auth.js';
import { HttpServer, type Readiness } from './http/server.js';
import { Ingest } from './ingest/ingest.js';
import { SilenceWatch } from './ingest/silence.js';
import { Redriver } from './ingest/redrive.js';
import type { DeadLetterArchive } from './core/archive.js';
import { InfluxDeadLetterArchive } from './storage/deadletter-archive.js';
import { createLogger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import type { RulesService } from './rules/service.js';
import { EventStore } from './storage/event-store.js';
import { chooseWriter, type EmbeddedChoice } from './storage/influx-choice.js';
import { lockDataDir } from './storage/data-dir-lock.js';
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
  /** A cluster node's id and its Redis (credentials left out). */
  readonly node?: string;
  readonly redis?: string;
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
  private cluster: ClusterNode | undefined;
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

  /** This gateway as a cluster node (REDIS_URL set), else undefined. */
  get clusterNode(): ClusterNode | undefined {
    return this.cluster;
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
    const lock = lifecycle.add('DATA_DIR lock', await lockDataDir(this.dataDir, log)); // before the spool and influxd's pidfile in it
    // Credentials and TLS files first: a bad one stops the start before anything is opened.
    // The device map is loaded later (before the broker listens): read through the service at each check.
    const accessOpts = accessOptions(settings, this.dataDir, metrics, log, () => this.devicesService?.router.map.tasmota);
    await ensureInitialCredentials(accessOpts.store, settings.initialCredentials, this.dataDir, log.child({ component: 'credentials' }));
    const access = new Access(accessOpts);
    await access.start();
    // Read once: MQTT over TLS, WebSocket over TLS and HTTPS are all given these.
    const tls = loadTlsMaterial(settings.tlsCertFile, settings.tlsKeyFile);
    // HTTP asks for the same credentials, through the same login guard (an HTTP_AUTH that cannot hold stops the start here).
    const auth = new HttpAuth({ store: accessOpts.store, login: access.login, metrics, log: log.child({ component: 'http' }), mode: settings.httpAuth, host: access.host });

    // Storage: where events go, the spool, and the store port over it.
    const { writer, embedded, v1Url, history: historyOver } = await chooseWriter(settings, this.dataDir, log, this.options.embedded);
    if (embedded) this.embedded = lifecycle.add('embedded InfluxDB', embedded);
    // A cluster node's spool has a second consumer: the forwarder to the partition streams.
    const clustered = settings.redisUrl !== '';
    const nodeId = settings.nodeId || hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
    const journal = new Journal(
      { dir: join(this.dataDir, 'spool'), maxBytes: settings.spoolMaxBytes, minFreeBytes: settings.spoolMinFreeBytes, commitIntervalMs: settings.spoolCommitIntervalMs, log, ...(clustered ? { consumers: ['forward'] } : {}) },
      this.options.spoolDisk,
    );
    lifecycle.add('spool', { stop: () => journal.close() });
    // The store remembers the points the spool recovers: no event kept from now on takes one of them.
    const store = new EventStore(journal, { startMs: clock.now(), sharedSeries: clustered });
    await journal.open((body, precision) => store.recall(body, precision === 'ns'));
    this.journal = journal;

    // The broker exists before ingest (ingest publishes dead letters through it) but listens last (what the rules publish going live waits for its state: broker.publish); it closes (its last snapshot) after all that publishes through it (its intake stops first, below).
    const { broker, pipeline, ledger } = mqttBroker(settings, { access, metrics, log, nodeId, clustered, tls });
    access.observe(broker.aedes);
    this.broker = lifecycle.add('broker', broker);
    // Contract actuators are known by their subscription to exactly commands/<site>/<zone>/<actuator> (a sensor's credential is not its zone's actuator: actuator-trust.ts).
    const actuators = new SubscribedActuators(actuatorTrust({ principal: (c) => access.principal(c), store: accessOpts.store, log: log.child({ component: 'access' }), now: () => clock.now() }));
    actuators.observe(broker.aedes);

    // The device map before ingest and the rules: the kinds it adds must be known to both.
    const devices = lifecycle.add('devices', devicesService(settings, { bus, publisher: broker, store, metrics, clock, log, leftBehind: lock.leftBehind && !clustered, resumeFile: join(this.dataDir, 'valve-setpoints.json') }));
    await devices.start();
    this.devicesService = devices;
    // Before the rules rebuild and go live (a resend fallen due goes out in each device's own form) and before the broker listens: what its restored retained messages taught.
    await devices.relearn({ broker, aedes: broker.aedes, ownerOf: (t) => ledger.ownerOf(t), access: accessOpts, ...(clustered ? { cluster: { aedes: broker.aedes, node: nodeId, liveNodes: () => this.cluster?.readiness().liveNodes ?? [] } } : {}) });

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
      alarms: { knows: (id, site) => (this.cluster ? this.cluster.rulesView.knows(id, site) : (this.rulesService?.alarmDirectory.knows(id, site) ?? false)) },
      native: devices.router, keypad: { codesFile: resolve(settings.keypadCodesFile || join(this.dataDir, 'keypad-codes.json')), settings }, // the gateway as Zigbee2MQTT keypads' alarm panel
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
    // Before the rules, so it stops after them: its last point, written at stop, counts their last firings.
    const stats = lifecycle.add('stats', statsReporter(settings, { metrics, store, clock, log, journal, broker, sink, nodeId, cluster: () => this.cluster }));
    await stats.start();
    const history = historyOver({ pending: () => journal.stats().events, up: () => sink.influxUp });
    const rules = lifecycle.add('rules', rulesService(settings, { bus, publisher: broker, store, metrics, log, clock, history, armedFile: join(this.dataDir, 'armed-zones.json'), stateFile: join(this.dataDir, 'rules-state.json'), keptPacksDir: join(this.dataDir, 'rules-kept'), devices }));
    await rules.start();
    this.rulesService = rules;
    // What the rules knew before this start, from what was stored (before anything new arrives);
    // a cluster's partitions are rebuilt by their owners instead (cluster/partition-worker.ts).
    const liveness = new LivenessBook();
    if (clustered) rules.clock.goLive();
    else await rules.rebuild({ onDevice: (item) => liveness.apply(item), onReading: (r) => ingest.seriesOf(r.site, r.zone, r.device, r.kind).memory.remember(r.id, r.numeric, r.timeMs), onReport: devices.replayed });
    const offKinds = onKindsChanged(() => void rules.kindsChanged());
    lifecycle.add('kinds watch', { stop: () => offKinds() });
    // A cluster node: the rules are ruled by partition owners (cluster/, README "Beyond one machine"); it starts once the broker listens.
    const where = { host: access.host, mqtt: 0, http: 0, pid: process.pid };
    const cluster = clustered ? clusterNode(settings, { nodeId, journal, rules, bus, metrics, clock, log, info: () => where, devices, history }) : undefined;
    this.cluster = cluster;

    // A cluster node's live view shows the whole cluster: its events come through Redis too (cluster/live-relay.ts).
    const liveBus = clustered ? new EventBus(log) : bus;
    const live = lifecycle.add('live view', liveView(settings, { bus: liveBus, clock, log, metrics, devices, rules: cluster?.rulesView ?? rules }));
    live.start();
    const silence = lifecycle.add('silence watch', new SilenceWatch({ bus, alarms: liveBus, store, clock, metrics, log: log.child({ component: 'devices' }), offlineAfterMs: settings.offlineAfterMs }));
    silence.start();
    // The page opens on what the rules rebuilt: armed zones, the latest readings, devices' status and silence, actuators and alarms.
    if (!cluster) seedFromHistory({ live, silence, rules, devices: liveness.list(), native: devices, now: clock.now() });
    else {
      const relay = lifecycle.add('live relay', new LiveRelay({ redisUrl: settings.redisUrl, nodeId, bus, liveBus, pushMs: settings.livePushMs, log: log.child({ component: 'live' }), unreadable: metrics.clusterLiveUnreadable, metrics }));
      await relay.start();
      cluster.showOn(liveBus, () => live.rulesChanged());
    }

    lifecycle.add('MQTT intake', { stop: () => broker.stopIntake() });
    devices.relearnt(); // the availability retained, over the seed from the history; before it listens
    const ports = await broker.start();
    where.mqtt = ports.mqtt;
    if (cluster) {
      // After the broker listens (Aedes' persistence is set up then): owners publish through it.
      lifecycle.add('cluster', cluster);
      await cluster.start();
      live.seedArmed(await cluster.armedStates().catch(() => []));
    }
    const http = lifecycle.add(
      'HTTP',
      new HttpServer({ log, host: access.host, port: settings.httpPort, metrics, readiness: () => this.readiness(), routes: live.routes(), auth, metricsPublic: settings.metricsPublic, tls: httpsOptions(settings, tls), limits: httpLimits(settings) }),
    );
    http.route('/api/zones', cluster?.zonesRoute ?? rules.zonesRoute);
    if (cluster) http.route('/api/cluster', cluster.clusterRoute);
    const api = new ApiRoutes({ rules: cluster?.rulesApi(rules) ?? rules, log: log.child({ component: 'api' }), authorize: this.options.authorize ?? actWithHttpAuth(auth) });
    for (const [path, handler] of api.routes()) http.route(path, handler);
    for (const [prefix, { handler, methods }] of api.prefixes()) http.routePrefix(prefix, handler, 'read', methods);
    http.route('/api/devices', devices.devicesRoute);
    const archive: DeadLetterArchive = v1Url
      ? new InfluxDeadLetterArchive(v1Url, settings.influxDb)
      : { read: () => Promise.reject(new GatewayError('GW_ERR_REDRIVE', 'a redrive reads dead letters through the InfluxDB 1.x API; this gateway writes through 2.x')) };
    const redriver = new Redriver({ ingest, archive, log: log.child({ component: 'redrive' }), before: () => devices.reload(), committed: () => store.committed(), now: () => clock.now() });
    http.route('/api/deadletters/redrive', redriver.route, 'act');
    // The rules' time of day (after hours) is this zone's: TZ, else the system's.
    where.http = await http.start();
    const running = {
      ports: { ...ports, http: where.http, ...(http.httpsPort === undefined ? {} : { https: http.httpsPort }) },
      host: access.host,
      influx: writer.description,
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      ...(cluster ? { node: nodeId, redis: settings.redisUrl.replace(/\/\/[^@/]*@/, '//') } : {}),
    };
    // DESIGN.md: the gateway logs the ports it bound, under LOG_LEVEL=warn or error too (port 0's only answer).
    (log.isLevelEnabled('info') || log.level === 'silent' ? log : log.child({}, { level: 'info' })).info(running, 'gateway started');
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
    return readinessOf(this.settings, { sink: this.sink, journal: this.journal, rules: this.rulesService, devices: this.devicesService, cluster: this.cluster });
  }
}
