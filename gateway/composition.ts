import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Access } from './broker/access.js';
import type { ClusterBus } from './broker/cluster-bus.js';
import { ClusterPersistence } from './broker/cluster-persistence.js';
import { CredentialStore } from './broker/credentials.js';
import { BoundedPersistence } from './broker/persistence.js';
import type { Settings } from './config/settings.js';
import type { Metrics } from './observability/metrics.js';

/**
 * Parts of the composition root (gateway.ts) that only turn settings into a component's options.
 */

/**
 * Aedes' session state within the MQTT_MAX_INFLIGHT_QOS2*, MQTT_MAX_QUEUED_* and
 * MQTT_SESSION_EXPIRY_S bounds; a cluster node's over Redis (broker/cluster-persistence.ts says
 * which of the bounds hold there).
 */
export function boundedPersistence(settings: Settings, metrics: Metrics, access: Access, cluster?: ClusterBus): BoundedPersistence {
  const limits = {
    maxInflightQos2: settings.maxInflightQos2,
    maxInflightQos2Bytes: settings.maxInflightQos2Bytes,
    maxQueuedMessages: settings.maxQueuedMessages,
    maxQueuedBytes: settings.maxQueuedBytes,
    maxQueuedBytesTotal: settings.maxQueuedBytesTotal,
    sessionExpiryMs: settings.sessionExpiryS * 1000,
  };
  const hooks = {
    takeGranted: (client: Parameters<Access['subscriptions']['takeGranted']>[0]) => access.subscriptions.takeGranted(client),
    onInflightRefused: (client: Parameters<Access['refuse']>[1], detail: string) => access.refuse('inflight_qos2', client, detail),
    onQueueDropped: (_clientId: string, dropped: number) => metrics.offlineDropped.inc(dropped),
    onSessionExpired: () => metrics.sessionsExpired.inc(),
  };
  const persistence = cluster ? new ClusterPersistence(limits, hooks, cluster.persistence, cluster.sessions) : new BoundedPersistence(limits, hooks);
  metrics.readFrom('inflightQos2', () => persistence.inflightQos2);
  metrics.readFrom('offlineQueuedMessages', () => persistence.queued.messages);
  metrics.readFrom('offlineQueuedBytes', () => persistence.queued.bytes);
  return persistence;
}

export function accessOptions(settings: Settings, dataDir: string, metrics: Metrics, log: Logger): ConstructorParameters<typeof Access>[0] {
  const credentialsFile = resolve(settings.credentialsFile || join(dataDir, 'credentials.json'));
  return {
    store: new CredentialStore(credentialsFile, log.child({ component: 'credentials' })),
    metrics,
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
