import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Access, AccessOptions } from './broker/access.js';
import { MqttBroker } from './broker/broker.js';
import { createClusterBus, waitingForRedis, type ClusterBus } from './broker/cluster-bus.js';
import { ClusterPersistence } from './broker/cluster-persistence.js';
import { CredentialStore } from './broker/credentials.js';
import { Delivery } from './broker/delivery.js';
import type { EvictReason } from './broker/away-sessions.js';
import { singleNodePersistence } from './broker/file-persistence.js';
import { PublishPipeline } from './broker/publish-pipeline.js';
import { RetainedLedger } from './broker/retained.js';
import { createTlsListeners, type TlsMaterial } from './broker/tls.js';
import { ClusterNode } from './cluster/node.js';
import type { Settings } from './config/settings.js';
import type { EventBus } from './core/bus.js';
import type { Clock } from './core/clock.js';
import type { DeviceLiveness } from './core/liveness.js';
import type { Store } from './core/store.js';
import type { Publisher } from './core/publisher.js';
import type { History } from './core/history.js';
import { DevicesService } from './devices/service.js';
import { powerCutWatch } from './devices/power-cut.js';
import { LiveView } from './http/live.js';
import type { Readiness } from './http/server.js';
import { LogLimiter } from './observability/log.js';
import type { Metrics } from './observability/metrics.js';
import { StatsReporter } from './observability/stats.js';
import type { SilenceWatch } from './ingest/silence.js';
import { RulesService } from './rules/service.js';
import { reportedStates, startedWithoutHistory } from './rules/views.js';
import type { Journal } from './storage/journal.js';
import type { InfluxSink } from './storage/sink.js';

/**
 * Parts of the composition root (gateway.ts) that only turn settings into a component and its
 * options, or read the components (readiness). gateway.ts keeps the order and the wiring.
 *
 * The broker, with the publish pipeline before its acknowledgements; a cluster node's shares
 * Aedes' bus and sessions through Redis, within the same bounds (broker/cluster-persistence.ts).
 */
export function mqttBroker(settings: Settings, o: { access: Access; metrics: Metrics; log: Logger; nodeId: string; clustered: boolean; tls: TlsMaterial | undefined }): { broker: MqttBroker; pipeline: PublishPipeline; ledger: RetainedLedger } {
  const { access, metrics, log } = o;
  const tlsListeners = createTlsListeners(o.tls, { mqttsPort: settings.mqttTlsPort, wssPort: settings.mqttWssPort, connectTimeoutMs: settings.connectTimeoutMs }, (err, address) => access.refuseSocket('tls_handshake', address, err.message));
  const ledger = new RetainedLedger({ metrics, maxBytesPerClient: settings.maxRetainedBytesPerClient, maxBytesPerBridge: settings.maxRetainedBytesPerBridge, isBridge: (owner) => ['bridge', 'admin'].includes((owner === 'anonymous' ? settings.anonymousRole : access.roleOf(owner)) ?? ''), maxBytes: settings.maxRetainedBytes, log: log.child({ component: 'broker' }) });
  const clusterBus = o.clustered ? createClusterBus(settings.redisUrl, o.nodeId, log.child({ component: 'broker' }), settings.sessionExpiryS || undefined, () => metrics.clusterLocalOnly.inc()) : undefined;
  const persistence = boundedPersistence(settings, { metrics, access, ledger, log }, clusterBus);
  ledger.dropWith((topic) => void persistence.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false }).catch(() => undefined));
  const pipeline = new PublishPipeline(access, ledger, persistence.incoming);
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
    hooks: { ...access.hooks, ...(clusterBus && persistence instanceof ClusterPersistence ? { authenticate: /* then the client id's holder on every node */ persistence.ids.holding(waitingForRedis(access, clusterBus, settings.mqttRedisWaitMs, metrics), access) } : {}), authorizePublish: pipeline.authorizePublish, authorizeForward: delivery.authorizeForward },
    persistence,
    connectTimeoutMs: settings.connectTimeoutMs,
    drainTimeoutMs: settings.slowClientTimeoutMs,
    writeBufferBytes: settings.maxClientBufferBytes,
    maxInflightQos2: settings.maxInflightQos2,
    ...(clusterBus ? { cluster: { bus: clusterBus, heartbeatMs: settings.mqttHeartbeatMs } } : {}),
  });
  return { broker, pipeline, ledger };
}

export function liveView(
  settings: Settings,
  o: { bus: EventBus; clock: Clock; log: Logger; metrics: Metrics; devices: DevicesService; rules: ConstructorParameters<typeof LiveView>[0]['rules'] },
): LiveView {
  return new LiveView({
    bus: o.bus,
    clock: o.clock,
    log: o.log.child({ component: 'live' }),
    metrics: o.metrics,
    pushMs: settings.livePushMs,
    waiting: () => o.devices.waiting(),
    placeOf: (device) => o.devices.placeOf(device),
    placed: { list: () => o.devices.placed(), changes: (listener) => o.devices.onMapChange(listener), has: (site, zone, device) => o.devices.placesByName(site, zone, device) },
    rules: o.rules,
    maxViewers: settings.liveMaxViewers, maxViewersPerAddress: settings.liveMaxViewersPerAddress, maxBehindBytes: settings.liveMaxBehindBytes,
  });
}

/**
 * The live page, the silence watch and GET /api/devices open on what the rebuild read (a single gateway): armed
 * zones, the latest readings, and what each device last said or was found to be. Devices are
 * those heard from within the rebuild's window, or whose last status or silence is in it (a
 * device gone for weeks is not brought back onto the page).
 */
export function seedFromHistory(o: { live: LiveView; silence: SilenceWatch; rules: RulesService; devices: readonly DeviceLiveness[]; native: DevicesService; now: number }): void {
  const { live, rules } = o;
  const readings = rules.latestReadings();
  const heard = new Map<string, number>();
  for (const r of readings) heard.set(r.device, Math.max(heard.get(r.device) ?? r.timeMs, r.timeMs));
  const fromMs = rules.rebuildResult?.fromMs ?? o.now;
  const devices = o.devices.filter((d) => heard.has(d.device) || d.atMs >= fromMs);
  live.seedArmed(rules.state.armedStates());
  live.seedReadings(readings);
  live.seedDevices(devices);
  live.seedReported(reportedStates(rules.runtime));
  o.native.seed(devices, readings, rules.actuators());
  const said = new Map(devices.map((d) => [d.device, d]));
  o.silence.seed(
    [...new Set([...heard.keys(), ...said.keys()])].map((device) => {
      const d = said.get(device);
      // Its last reading or word; a device only known to be silent, when it was found so.
      const lastHeardMs = Math.max(heard.get(device) ?? 0, d?.heardMs ?? 0) || (d?.atMs ?? o.now);
      // Away if `offline` was the last it said and no reading came after it (a reading is heard, as in SilenceWatch).
      const away = d?.online === false && (d.heardMs ?? 0) >= (heard.get(device) ?? 0);
      return { device, lastHeardMs, away, silent: d?.silent ?? false };
    }),
  );
}

export function statsReporter(
  settings: Settings,
  o: { metrics: Metrics; store: Store; clock: Clock; log: Logger; journal: Journal; broker: MqttBroker; sink: InfluxSink; nodeId: string; cluster: () => ClusterNode | undefined },
): StatsReporter {
  const { journal, broker, sink, nodeId, metrics, store, clock } = o;
  return new StatsReporter({
    metrics, store, clock,
    log: o.log.child({ component: 'stats' }),
    intervalMs: settings.statsIntervalMs,
    spool: () => journal.stats(),
    connectedClients: () => broker.connectedClients,
    influxUp: () => sink.influxUp,
    node: nodeId,
    cluster:
      settings.redisUrl !== ''
        ? () => o.cluster()?.status() ?? { node: nodeId, redisUp: false, owned: [], lagSeconds: new Map(), forwardBacklog: journal.cursor('forward').stats().events, liveNodes: 0 }
        : undefined,
  });
}

/** /readyz: InfluxDB, the spool, the rules, the device map, and a cluster node's Redis and partitions. */
export function readinessOf(
  settings: Settings,
  o: { sink: InfluxSink | undefined; journal: Journal | undefined; rules: RulesService | undefined; devices: DevicesService | undefined; cluster: ClusterNode | undefined },
): Readiness {
  const influxUp = o.sink?.influxUp ?? false;
  const writeProblem = o.sink?.writeProblem;
  const spool = o.journal?.stats();
  const full = o.journal?.isFull() ?? false;
  const spoolProblem = o.journal?.problem;
  const draining = o.sink?.draining ?? true;
  const problems = o.rules?.loader.problems ?? new Map<string, string>();
  const ruleProblems = [...problems.values()];
  // No rule file at all (RULES_DIR missing or empty) runs no rules: degraded, never silently ready.
  if (o.rules?.loader.noRuleFiles) ruleProblems.push(o.rules.loader.noRuleFiles);
  const kept = [...(o.rules?.loader.keptCopies ?? [])].map(([f, acceptedAt]) => ({ file: join(settings.rulesDir, f), acceptedAt }));
  const rebuilt = o.rules?.rebuildResult;
  if (rebuilt && !rebuilt.ok) ruleProblems.push(startedWithoutHistory(rebuilt, influxUp));
  const cluster = o.cluster?.readiness();
  const deviceProblem = o.devices?.loader.problem;
  return {
    ready: influxUp && writeProblem === undefined && !full && draining && spoolProblem === undefined && (cluster?.ok ?? true),
    // The rules in force still run, so ready; but an operator's edit was refused, or there are none.
    degraded: ruleProblems.length > 0,
    checks: {
      influxdb: { ok: influxUp && writeProblem === undefined, detail: !influxUp ? 'unreachable: events wait in the spool' : (writeProblem ?? 'reachable') },
      spool: {
        ok: !full && draining && spoolProblem === undefined,
        detail: `${spool?.events ?? 0} events, ${spool?.bytes ?? 0} bytes waiting${spoolProblem ? `; ${spoolProblem}` : full ? '; full (SPOOL_MAX_BYTES)' : ''}${draining ? '' : '; cannot be read back (GW_ERR_SPOOL_READ)'}`,
      },
      rules: { ok: ruleProblems.length === 0, ...(ruleProblems.length > 0 ? { detail: ruleProblems.join(' | '), files: [...problems.keys()].map((f) => join(settings.rulesDir, f)) } : {}), ...(kept.length > 0 ? { keptCopies: kept } : {}) },
      devices: { ok: deviceProblem === undefined, ...(deviceProblem ? { detail: deviceProblem } : {}) },
      ...(cluster ? { cluster } : {}),
    },
  };
}

/**
 * Aedes' session state within the MQTT_MAX_INFLIGHT_QOS2*, MQTT_MAX_QUEUED_* and MQTT_SESSION_EXPIRY_S
 * bounds: a single gateway's kept in DATA_DIR across restarts (broker/file-persistence.ts), a cluster
 * node's over Redis (broker/cluster-persistence.ts says which of the bounds hold there).
 */
function boundedPersistence(settings: Settings, { metrics, access, ledger, log }: { metrics: Metrics; access: Access; ledger: RetainedLedger; log: Logger }, cluster?: ClusterBus) {
  const { maxInflightQos2, maxInflightQos2Bytes, maxQueuedMessages, maxQueuedBytes, maxQueuedBytesTotal, maxAwaySessions, maxAwaySubscriptions, maxAwaySessionsPerCredential } = settings;
  const limits = { maxInflightQos2, maxInflightQos2Bytes, maxQueuedMessages, maxQueuedBytes, maxQueuedBytesTotal, sessionExpiryMs: settings.sessionExpiryS * 1000, maxAwaySessions, maxAwaySubscriptions, maxAwaySessionsPerCredential };
  const brokerLog = log.child({ component: 'broker' });
  const rare = new LogLimiter(brokerLog, 1, 60_000); // once a minute per reason: made-up client ids come in floods
  const hooks = {
    takeGranted: (client: Parameters<Access['subscriptions']['takeGranted']>[0]) => access.subscriptions.takeGranted(client),
    onInflightRefused: (client: Parameters<Access['refuse']>[1], detail: string) => access.refuse('inflight_qos2', client, detail),
    onQueueDropped: (_clientId: string, dropped: number) => metrics.offlineDropped.inc(dropped),
    // A session ended frees its client id for any credential (broker/client-ids.ts).
    onSessionExpired: (clientId: string) => void (metrics.sessionsExpired.inc(), access.ids.ended(clientId)),
    onSessionEvicted: (clientId: string, reason: EvictReason, filters: number | undefined, owner: string | undefined) => {
      metrics.sessionsEvicted.inc({ reason });
      access.ids.ended(clientId);
      const bound = { away_sessions: `${maxAwaySessions} sessions away (MQTT_MAX_AWAY_SESSIONS)`, away_subscriptions: `${maxAwaySubscriptions} filters held by sessions away (MQTT_MAX_AWAY_SUBSCRIPTIONS)`, credential_away_sessions: `${maxAwaySessionsPerCredential} sessions away of credential ${owner ?? ''} (MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL)` }[reason];
      if (rare.allow(`session evicted ${reason}`)) brokerLog.warn({ clientId, reason, filters, owner }, `persistent session of ${clientId} removed before its expiry, the one away longest: more than ${bound} (gateway_sessions_evicted_total)`);
    },
    ownerOf: (clientId: string) => access.ids.limitedOwnerOf(clientId),
  };
  const persistence = cluster ? new ClusterPersistence(limits, hooks, cluster.persistence, cluster.sessions, { heartbeatMs: settings.mqttHeartbeatMs, hearingSince: cluster.hearingSince, log: brokerLog }) : singleNodePersistence(settings, limits, hooks, { ledger, metrics, log: brokerLog, ids: access.ids });
  metrics.readFrom('inflightQos2', () => persistence.inflightQos2);
  metrics.readFrom('offlineQueuedMessages', () => persistence.queued.messages);
  metrics.readFrom('offlineQueuedBytes', () => persistence.queued.bytes);
  return persistence;
}

export function accessOptions(settings: Settings, dataDir: string, metrics: Metrics, log: Logger, tasmota?: NonNullable<AccessOptions['nativeTopics']>['tasmota']): AccessOptions {
  const credentialsFile = resolve(settings.credentialsFile || join(dataDir, 'credentials.json'));
  return {
    store: new CredentialStore(credentialsFile, log.child({ component: 'credentials' })),
    metrics,
    log: log.child({ component: 'access' }),
    allowAnonymous: settings.allowAnonymous,
    anonymousRole: settings.anonymousRole,
    bindHost: settings.bindHost,
    maxConnections: settings.maxConnections,
    maxConnectionsPerCredential: settings.maxConnectionsPerCredential,
    maxPacketBytes: settings.maxPacketBytes,
    maxBridgePacketBytes: settings.maxBridgePacketBytes,
    topics: { maxLength: settings.maxTopicLength, maxLevels: settings.maxTopicLevels },
    publishRate: settings.publishRate,
    publishBurst: settings.publishBurst,
    loginBackoffAfter: settings.loginBackoffAfter,
    loginBackoffMaxMs: settings.loginBackoffMaxMs,
    nativeTopics: { discoveryPrefix: settings.discoveryPrefix, zigbee2mqttBase: settings.zigbee2mqttBaseTopic, ...(tasmota ? { tasmota } : {}) },
    loginUnknownUserBurst: settings.loginUnknownUserBurst,
    loginUnknownUserPerMin: settings.loginUnknownUserPerMin,
    loginMaxQueuedChecks: settings.loginMaxQueuedChecks,
    maxPendingConnections: settings.maxPendingConnections,
    maxPendingPerAddress: settings.maxPendingPerAddress,
    connectTimeoutMs: settings.connectTimeoutMs,
    maxSubscriptions: { one: settings.maxSubscriptions, many: settings.maxSubscriptionsMany, perCredential: settings.maxSubscriptionsPerCredential, total: settings.maxSubscriptionsTotal },
  };
}

/** A cluster node (REDIS_URL): forwarding from the spool's `forward` consumer, partition owners with the rules in force, outputs sent as the rules service sends them. */
export function clusterNode(
  settings: Settings,
  o: { nodeId: string; journal: Journal; rules: RulesService; bus: EventBus; metrics: Metrics; clock: Clock; log: Logger; info: () => Readonly<Record<string, unknown>>; devices: Pick<DevicesService, 'expectedReport' | 'availability'>; history: History },
): ClusterNode {
  const { rules, metrics } = o;
  const cluster = new ClusterNode({
    redisUrl: settings.redisUrl,
    nodeId: o.nodeId,
    partitions: settings.partitions,
    leaseMs: settings.leaseMs,
    staleAfterMs: settings.staleAfterMs,
    cursor: o.journal.cursor('forward'),
    maxBacklogBytes: settings.spoolMaxBytes,
    rules: () => rules.runtime.rules,
    commands: { confirmMs: settings.commandConfirmMs, retries: settings.commandRetries, holdMs: settings.manualHoldMs, expectedReport: o.devices.expectedReport, availability: o.devices.availability },
    outputs: rules.outputs,
    bus: o.bus, metrics, clock: o.clock,
    log: o.log.child({ component: 'cluster' }),
    observer: {
      fired: (rule) => metrics.ruleFirings.inc({ rule }),
      suppressed: (s) => rules.suppressed(s),
      woke: (type) => metrics.ruleWakeups.inc({ type }),
      failed: () => metrics.ruleErrors.inc(),
      routesReset: (routes) => rules.routesReset(routes),
      ...rules.memory,
      ran: (reading, wake, firings, outcomes, suppressed, at) => rules.trace.ran(reading, wake, firings, suppressed, at, outcomes.length),
    },
    info: o.info,
    // A partition whose shared state Redis lost is rebuilt from the history, as the rules at start.
    history: { history: o.history, waitMs: settings.rebuildWaitMs },
  });
  rules.onRules((set) => cluster.useRules(set));
  return cluster;
}

export function devicesService(settings: Settings, { leftBehind, ...o }: { bus: EventBus; publisher: Publisher; store: Store; metrics: Metrics; clock: Clock; log: Logger; leftBehind: boolean; resumeFile: string }): DevicesService {
  return new DevicesService({
    file: resolve(settings.devicesFile),
    zigbee2mqttBaseTopic: settings.zigbee2mqttBaseTopic,
    discoveryPrefix: settings.discoveryPrefix,
    ...o,
    log: o.log.child({ component: 'devices' }),
    powerCut: powerCutWatch({ bootMs: settings.powerCutBootMs, leftBehind, now: o.clock.now(), log: o.log }), // the last run did not stop (DATA_DIR lock) on a host just booted
  });
}

/** The rules; a cluster node's only load the packs (its partitions are ruled by their owners, cluster/). */
export function rulesService(settings: Settings, o: { bus: EventBus; publisher: Publisher; store: Store; metrics: Metrics; clock: Clock; log: Logger; history: History; armedFile: string; stateFile: string; keptPacksDir: string; devices: Pick<DevicesService, 'expectedReport' | 'availability' | 'rulesCommand'> }): RulesService {
  const { devices, ...rest } = o;
  const rules = new RulesService({
    ...rest,
    rulesDir: settings.rulesDir,
    commands: { confirmMs: settings.commandConfirmMs, retries: settings.commandRetries, holdMs: settings.manualHoldMs, expectedReport: devices.expectedReport, availability: devices.availability },
    rebuildWaitMs: settings.rebuildWaitMs,
    storeWaitMs: settings.durableAck ? settings.commandStoreWaitMs : 0,
    partitioned: settings.redisUrl !== '',
  });
  // The device map's actuator entries are checked against what the rules command (a misspelt name does nothing).
  rules.onRules((set) => devices.rulesCommand(new Set(set.rules.flatMap((r) => (r.event.type === 'command' ? [r.event.params.actuator] : [])))));
  return rules;
}

export { httpLimits, httpsOptions } from './http/settings-options.js';
