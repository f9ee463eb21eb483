import { Ajv, type ErrorObject } from 'ajv';
import { GatewayError } from '../core/errors.js';
import { SEGMENT_SOURCE } from '../core/segments.js';
import { editDistance } from '../core/edit-distance.js';

export type LogFormat = 'auto' | 'json' | 'pretty';
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];

/**
 * Every setting the gateway reads, in one table: environment variable, type, default, meaning.
 * The public ones are fixed by DESIGN.md; the rest are tuning knobs with sane defaults.
 */
const SETTINGS = {
  mqttPort: { env: 'MQTT_PORT', type: 'port', default: 1883, description: 'MQTT over TCP (0 = any free port)' },
  mqttWsPort: { env: 'MQTT_WS_PORT', type: 'port', default: 8083, description: 'MQTT over WebSocket, path /mqtt (0 = any free port)' },
  httpPort: { env: 'HTTP_PORT', type: 'port', default: 8080, description: '/healthz, /readyz, /metrics and the live page (0 = any free port)' },
  bindHost: { env: 'BIND_HOST', type: 'string', default: '', description: 'address to listen on; empty = loopback when no credentials are configured, else all interfaces' },
  influxUrl: { env: 'INFLUX_URL', type: 'url', default: 'http://127.0.0.1:8086', description: 'InfluxDB base URL' },
  influxDb: { env: 'INFLUX_DB', type: 'name', default: 'iot', description: 'InfluxDB 1.x database' },
  influxToken: { env: 'INFLUX_TOKEN', type: 'string', default: '', description: 'InfluxDB 2.x token (with INFLUX_ORG and INFLUX_BUCKET: write through the 2.x API)' },
  influxOrg: { env: 'INFLUX_ORG', type: 'string', default: '', description: 'InfluxDB 2.x organisation' },
  influxBucket: { env: 'INFLUX_BUCKET', type: 'string', default: '', description: 'InfluxDB 2.x bucket' },
  influxBatchSize: { env: 'INFLUX_BATCH_SIZE', type: 'count', minimum: 1, default: 5000, description: 'points per write request' },
  influxFlushMs: { env: 'INFLUX_FLUSH_MS', type: 'count', default: 100, description: 'longest a point waits before a (partial) batch is written' },
  influxTimeoutMs: { env: 'INFLUX_TIMEOUT_MS', type: 'count', minimum: 100, default: 10000, description: 'write request timeout' },
  embeddedInflux: { env: 'EMBEDDED_INFLUX', type: 'mode', default: 'auto', description: 'auto: when INFLUX_URL is unset and nothing answers, start a local influxd (installing it first where root or sudo and apt allow); never: do not' },
  embeddedInfluxPort: { env: 'EMBEDDED_INFLUX_PORT', type: 'port', default: 8086, description: 'where the embedded InfluxDB listens on 127.0.0.1 (INFLUX_URL unset); 0 = any free port' },
  rulesDir: { env: 'RULES_DIR', type: 'string', default: 'rules', description: 'rule files, reloaded on change' },
  dataDir: { env: 'DATA_DIR', type: 'string', default: 'data', description: 'the on-disk spool and anything else kept' },
  spoolMaxBytes: { env: 'SPOOL_MAX_BYTES', type: 'count', default: 1024 ** 3, description: 'largest the spool may grow while InfluxDB is away; beyond it QoS 1 is not acknowledged and QoS 0 is dropped' },
  spoolMinFreeBytes: {
    env: 'SPOOL_MIN_FREE_BYTES',
    type: 'count',
    default: 0,
    description: 'bytes the spool leaves free on the disk under DATA_DIR (past that it is full: QoS 1 waits, QoS 0 is dropped and counted); 0 = 5% of that disk, at most 64 MiB',
  },
  spoolCommitIntervalMs: {
    env: 'SPOOL_COMMIT_INTERVAL_MS',
    type: 'count',
    default: 3,
    description: 'least time between the starts of two spool writes (each one fdatasync): what arrives in between is one group; a QoS 1 PUBACK waits at most this much longer (0 = write at once)',
  },
  commandStoreWaitMs: { env: 'COMMAND_STORE_WAIT_MS', type: 'count', default: 1000, description: 'a command or alert is published once it (and the reading that caused it) is written to the spool file; a spool that does not commit within this is not waited for longer (counted in gateway_outputs_unstored_total); 0 = publish at once' },
  durableAck: { env: 'DURABLE_ACK', type: 'boolean', default: true, description: 'PUBACK a QoS 1 reading only once it is on disk (spool) or in InfluxDB' },
  maxPayloadBytes: { env: 'MAX_PAYLOAD_BYTES', type: 'count', minimum: 1, default: 65536, description: 'largest reading payload accepted' },
  staleAfterMs: { env: 'STALE_AFTER_MS', type: 'count', default: 300000, description: 'readings older than this are stored as history but do not drive rules' },
  offlineAfterMs: { env: 'OFFLINE_AFTER_MS', type: 'count', default: 300000, description: 'a device heard nothing from for this long (or 3 of its usual intervals, if longer) is shown and stored as silent (0 = never)' },
  livePushMs: { env: 'LIVE_PUSH_MS', type: 'count', default: 250, description: 'the live page pushes changes at most this often; readings of one device in between are coalesced' },
  statsIntervalMs: { env: 'STATS_INTERVAL_MS', type: 'count', default: 10000, description: 'how often the gateway writes its own gateway_stats point to InfluxDB (0 = never)' },
  commandConfirmMs: { env: 'COMMAND_CONFIRM_MS', type: 'count', default: 10000, description: 'a command to an actuator that reports its state is resent when not confirmed within this (then twice as long, …)' },
  commandRetries: { env: 'COMMAND_RETRIES', type: 'count', default: 2, description: 'resends of an unconfirmed command before the actuator_unresponsive alarm (its state is then unknown)' },
  manualHoldMs: { env: 'MANUAL_HOLD_MS', type: 'count', default: 1800000, description: 'the rules leave an actuator changed by hand (manual_override) alone this long, unless a rule is marked override' },
  powerCutBootMs: { env: 'POWER_CUT_BOOT_MS', type: 'count', default: 600000, description: 'a start this soon after the host booted, when the last run did not stop (its DATA_DIR lock left), follows a power cut of the house: for 10 min each native actuator\'s first report of another state than its last one stored counts as its coming back, and an actuator the rules had on that reports off is put back on (0 = never)' },
  rebuildWaitMs: { env: 'REBUILD_WAIT_MS', type: 'count', default: 15000, description: 'at start, how long the rules wait for the spool to drain into InfluxDB before they rebuild their state from it (not at all while InfluxDB does not answer)' },
  logLevel: { env: 'LOG_LEVEL', type: 'level', default: 'info', description: 'pino level' },
  logFormat: { env: 'LOG_FORMAT', type: 'format', default: 'auto', description: 'auto: readable lines when stdout is a terminal, else JSON; json; pretty' },
  initialCredentials: { env: 'INITIAL_CREDENTIALS', type: 'credentials', default: '', description: 'name:role,… (roles observer, admin): created with generated secrets at a start that finds no credentials, each printed once and written to DATA_DIR/initial-secrets/<name>' },
  credentialsFile: { env: 'CREDENTIALS_FILE', type: 'string', default: '', description: 'device and service credentials (scrypt hashes); empty = DATA_DIR/credentials.json' },
  keypadCodesFile: { env: 'KEYPAD_CODES_FILE', type: 'string', default: '', description: 'the codes Zigbee2MQTT keypads are checked against (scrypt hashes, npm run keypad-codes); empty = DATA_DIR/keypad-codes.json' },
  keypadLockoutFailures: { env: 'KEYPAD_LOCKOUT_FAILURES', type: 'count', default: 5, description: 'wrong codes at one keypad within KEYPAD_LOCKOUT_WINDOW_MS before its presses are refused unchecked (answered invalid_code) for KEYPAD_LOCKOUT_MS; a wrong code after a lockout locks it out again for twice as long; a right code clears it (0 = never)' },
  keypadLockoutWindowMs: { env: 'KEYPAD_LOCKOUT_WINDOW_MS', type: 'count', minimum: 1, default: 300000, description: 'the window KEYPAD_LOCKOUT_FAILURES wrong codes are counted in' },
  keypadLockoutMs: { env: 'KEYPAD_LOCKOUT_MS', type: 'count', minimum: 1, default: 60000, description: 'a keypad\'s first lockout' },
  keypadLockoutMaxMs: { env: 'KEYPAD_LOCKOUT_MAX_MS', type: 'count', minimum: 1, default: 3600000, description: 'longest keypad lockout; a keypad quiet this long after its last lockout starts afresh' },
  keypadExitDelayMs: { env: 'KEYPAD_EXIT_DELAY_MS', type: 'count', default: 30000, description: 'after a right arming code at a keypad, how long its zone waits before it is armed (the way out; the keypad shows exit_delay meanwhile); a right code in that time ends it (a disarm, or the delay begun anew); 0 = armed at once' },
  keypadMaxQueuedChecks: { env: 'KEYPAD_MAX_QUEUED_CHECKS', type: 'count', minimum: 1, default: 8, description: 'keypad presses waiting for their code to be checked (one at a time, one scrypt per code) at most; a press beyond it is answered not_ready unchecked and counted in gateway_keypad_refusals_total{reason="checks_queued"}' },
  allowAnonymous: { env: 'MQTT_ALLOW_ANONYMOUS', type: 'tristate', default: 'auto', description: 'auto: anonymous clients only while no credentials exist and the broker listens on loopback; true; false' },
  anonymousRole: { env: 'MQTT_ANONYMOUS_ROLE', type: 'role', default: 'admin', description: 'what an anonymous client may do, when allowed: device rules need a credential, so observer or admin' },
  tlsCertFile: { env: 'TLS_CERT_FILE', type: 'string', default: '', description: 'PEM certificate (chain); with TLS_KEY_FILE enables MQTT over TLS and WebSocket over TLS' },
  tlsKeyFile: { env: 'TLS_KEY_FILE', type: 'string', default: '', description: 'PEM private key of TLS_CERT_FILE' },
  mqttTlsPort: { env: 'MQTT_TLS_PORT', type: 'port', default: 8883, description: 'MQTT over TLS, when TLS is configured' },
  mqttWssPort: { env: 'MQTT_WSS_PORT', type: 'port', default: 8084, description: 'MQTT over WebSocket over TLS, path /mqtt, when TLS is configured' },
  httpsPort: { env: 'HTTPS_PORT', type: 'port', default: 8443, description: 'the HTTP API, the live page and /metrics over TLS, when TLS is configured (TLS_CERT_FILE and TLS_KEY_FILE)' },
  maxConnections: { env: 'MAX_CONNECTIONS', type: 'count', default: 10000, description: 'authenticated MQTT clients at most (all listeners); one more gets CONNACK 3 (0 = no limit)' },
  maxConnectionsPerCredential: { env: 'MQTT_MAX_CONNECTIONS_PER_CREDENTIAL', type: 'count', default: 100, description: 'authenticated MQTT clients one credential may have at once, admin credentials excepted (they speak for many: the simulator); one more gets CONNACK 3, so one device cannot fill MAX_CONNECTIONS (0 = no limit)' },
  connectTimeoutMs: { env: 'MQTT_CONNECT_TIMEOUT_MS', type: 'count', default: 5000, description: 'a connection that has not sent its CONNECT this long after it opened is closed (over WebSocket: the upgrade and the CONNECT together)' },
  maxPendingConnections: { env: 'MQTT_MAX_PENDING_CONNECTIONS', type: 'count', default: 1000, description: 'connections not yet authenticated (CONNECT not arrived or being checked) at most, all addresses together; a new one beyond is closed at once (0 = no limit)' },
  maxPendingPerAddress: { env: 'MQTT_MAX_PENDING_PER_ADDRESS', type: 'count', default: 100, description: 'connections not yet authenticated from one address at most (0 = no limit)' },
  maxInflightQos2: { env: 'MQTT_MAX_INFLIGHT_QOS2', type: 'count', default: 32, description: 'QoS 2 messages received and not yet released (no PUBREL) per client id, across its sessions; the next one closes the connection (0 = no limit)' },
  maxInflightQos2Bytes: { env: 'MQTT_MAX_INFLIGHT_QOS2_BYTES', type: 'count', default: 1048576, description: 'payload bytes of those unreleased QoS 2 messages per client id (0 = no limit)' },
  maxQueuedMessages: { env: 'MQTT_MAX_QUEUED_MESSAGES', type: 'count', default: 1000, description: 'messages queued for one persistent session (clean=false) while its client is away or not acknowledging; beyond it the oldest are dropped and counted (0 = no limit)' },
  maxQueuedBytes: { env: 'MQTT_MAX_QUEUED_BYTES', type: 'count', default: 4194304, description: 'bytes queued for one persistent session, each message counted as its payload, its topic and 280 bytes of bookkeeping (measured); beyond it the oldest are dropped (0 = no limit)' },
  maxQueuedBytesTotal: { env: 'MQTT_MAX_QUEUED_BYTES_TOTAL', type: 'count', default: 67108864, description: 'bytes queued for all persistent sessions together, counted as for MQTT_MAX_QUEUED_BYTES (so it bounds their memory and their share of the snapshot); beyond it the largest queue drops its oldest (0 = no limit)' },
  sessionExpiryS: { env: 'MQTT_SESSION_EXPIRY_S', type: 'count', default: 86400, description: 'a persistent session whose client has been away this long is removed (subscriptions, queue, unreleased QoS 2); 0 = never' },
  maxAwaySessions: { env: 'MQTT_MAX_AWAY_SESSIONS', type: 'count', default: 100000, description: 'persistent sessions kept while their client is away; past it the one away longest is removed at once (0 = no limit)' },
  maxAwaySessionsPerCredential: { env: 'MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL', type: 'count', default: 100, description: 'persistent sessions one credential may keep while their clients are away, admin credentials excepted; past it its own session away longest is removed at once, so one device cannot evict the others under MQTT_MAX_AWAY_SESSIONS (0 = no limit)' },
  maxAwaySubscriptions: { env: 'MQTT_MAX_AWAY_SUBSCRIPTIONS', type: 'count', default: 200000, description: 'topic filters kept for all the persistent sessions away together (~1 KB each); past it the session away longest is removed at once (0 = no limit)' },
  mqttSnapshotIntervalMs: { env: 'MQTT_SNAPSHOT_INTERVAL_MS', type: 'count', default: 1000, description: 'a single gateway writes its broker’s retained messages, persistent sessions (subscriptions, queued messages) and wills to DATA_DIR/mqtt-state.bin at most this often when they changed (less often for a large state: at most 256 KiB/s on average; a connected session’s in-flight queue alone at most once a minute), and at a clean stop; read back at start. A kill -9 loses at most this long of changes (0 = kept in memory only, lost at every restart)' },
  maxRetainedBytesPerClient: { env: 'MQTT_MAX_RETAINED_BYTES_PER_CLIENT', type: 'count', default: 65536, description: 'retained bytes (payload and topic) one credential may keep; a retained publish beyond it is delivered but not retained (0 = no limit)' },
  maxRetainedBytesPerBridge: { env: 'MQTT_MAX_RETAINED_BYTES_PER_BRIDGE', type: 'count', default: 8388608, description: "retained bytes one bridge credential may keep (Zigbee2MQTT retains its bridge/devices, bridge/info and a Home Assistant discovery config per entity); 0 = no limit" },
  maxRetainedBytes: { env: 'MQTT_MAX_RETAINED_BYTES', type: 'count', default: 16777216, description: 'retained bytes all clients together may keep (0 = no limit)' },
  maxSubscriptions: { env: 'MQTT_MAX_SUBSCRIPTIONS', type: 'count', default: 100, description: 'topic filters one client may hold; a filter beyond it is refused (SUBACK 0x80) and the client stays (0 = no limit)' },
  maxSubscriptionsMany: { env: 'MQTT_MAX_SUBSCRIPTIONS_MANY', type: 'count', default: 10000, description: 'topic filters one admin, observer or bridge client may hold (Home Assistant subscribes to each entity\'s state, availability and attribute topics one by one); beyond it SUBACK 0x80 (0 = no limit)' },
  maxSubscriptionsPerCredential: { env: 'MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL', type: 'count', default: 20000, description: 'topic filters the connected clients of one credential may hold together, admin credentials and anonymous clients excepted (each client is held to MQTT_MAX_SUBSCRIPTIONS too, and a credential may have MQTT_MAX_CONNECTIONS_PER_CREDENTIAL clients); beyond it SUBACK 0x80 (0 = no limit)' },
  maxSubscriptionsTotal: { env: 'MQTT_MAX_SUBSCRIPTIONS_TOTAL', type: 'count', default: 200000, description: 'topic filters all connected clients may hold together (~1.2 KB each in memory for a 55-byte filter, measured); beyond it SUBACK 0x80 (0 = no limit)' },
  maxClientBufferBytes: { env: 'MQTT_MAX_CLIENT_BUFFER_BYTES', type: 'count', default: 1048576, description: 'bytes the gateway holds unsent for one subscriber; beyond it QoS 0 messages to it are dropped (counted) and a QoS 1 or 2 message disconnects it, so it never holds up delivery to others' },
  slowClientTimeoutMs: { env: 'MQTT_SLOW_CLIENT_TIMEOUT_MS', type: 'count', default: 10000, description: 'a subscriber that stays over MQTT_MAX_CLIENT_BUFFER_BYTES this long is disconnected' },
  maxPacketBytes: { env: 'MAX_PACKET_BYTES', type: 'count', default: 262144, description: 'largest MQTT packet; a bigger one closes the connection before it is buffered (payloads over MAX_PAYLOAD_BYTES but under this are dead letters)' },
  maxBridgePacketBytes: { env: 'MAX_BRIDGE_PACKET_BYTES', type: 'count', default: 4194304, description: "largest MQTT packet from a bridge credential once it has connected, over TCP (Zigbee2MQTT's bridge/devices lists every device's definition, 2–15 KB each); 0 = MAX_PACKET_BYTES" },
  maxTopicLength: { env: 'MAX_TOPIC_LENGTH', type: 'count', minimum: 1, default: 512, description: 'longest topic or topic filter, in bytes' },
  maxTopicLevels: { env: 'MAX_TOPIC_LEVELS', type: 'count', minimum: 1, default: 8, description: 'most levels in a topic or topic filter' },
  publishRate: { env: 'PUBLISH_RATE', type: 'count', default: 1000, description: 'publishes per second per client (token bucket); a faster client is slowed, not dropped (0 = no limit)' },
  publishBurst: { env: 'PUBLISH_BURST', type: 'count', default: 2000, description: 'publishes a client may send at once above PUBLISH_RATE' },
  loginBackoffAfter: { env: 'LOGIN_BACKOFF_AFTER', type: 'count', default: 5, description: 'failed logins per address and username before refusing that username from that address for 1 s, doubling per further failure (0 = never); the right secret already seen since the start is never refused' },
  loginBackoffMaxMs: { env: 'LOGIN_BACKOFF_MAX_MS', type: 'count', default: 300000, description: 'longest login back-off' },
  devicesFile: { env: 'DEVICES_FILE', type: 'string', default: 'devices.yaml', description: 'the device map (native devices and actuators, YAML), reloaded on change; a missing file is an empty map' },
  zigbee2mqttBaseTopic: { env: 'ZIGBEE2MQTT_BASE_TOPIC', type: 'topic', default: 'zigbee2mqtt', description: 'Zigbee2MQTT base topic' },
  discoveryPrefix: { env: 'HA_DISCOVERY_PREFIX', type: 'topic', default: 'homeassistant', description: 'Home Assistant MQTT discovery prefix' },
  loginUnknownUserBurst: { env: 'LOGIN_UNKNOWN_USER_BURST', type: 'count', default: 20, description: 'logins with usernames that do not exist, per address, before they are refused without a check (known usernames are not affected; 0 = no limit)' },
  loginUnknownUserPerMin: { env: 'LOGIN_UNKNOWN_USER_PER_MIN', type: 'count', default: 6, description: 'how fast that allowance for unknown usernames comes back, per minute' },
  loginMaxQueuedChecks: { env: 'LOGIN_MAX_QUEUED_CHECKS', type: 'count', default: 64, description: 'secret checks (scrypt) waiting at most, all addresses together (a quarter of it, at most 8, per address); beyond, CONNACK 3 / HTTP 503 (0 = no limit)' },
  httpAuth: { env: 'HTTP_AUTH', type: 'tristate', default: 'auto', description: 'auto: HTTP asks for credentials (Basic) once credentials exist or the gateway listens beyond loopback; true; false (loopback only); /healthz and /readyz are always open' },
  metricsPublic: { env: 'METRICS_PUBLIC', type: 'boolean', default: false, description: 'serve /metrics without credentials (for a Prometheus that cannot send basic_auth)' },
  httpMaxConnections: { env: 'HTTP_MAX_CONNECTIONS', type: 'count', default: 1000, description: 'HTTP connections open at most (and as many more over HTTPS); one more is closed at once, counted (0 = no limit)' },
  httpMaxConnectionsPerAddress: { env: 'HTTP_MAX_CONNECTIONS_PER_ADDRESS', type: 'count', default: 100, description: 'HTTP and HTTPS connections open from one address at most (raise it behind a reverse proxy; 0 = no limit)' },
  httpHeadersTimeoutMs: { env: 'HTTP_HEADERS_TIMEOUT_MS', type: 'count', default: 10000, description: 'an HTTP request whose headers (and body) have not all arrived this long after it began is closed with 408, counted; responses such as the live page\'s event stream are not limited (0 = Node\'s default, 60 s)' },
  liveMaxViewers: { env: 'LIVE_MAX_VIEWERS', type: 'count', default: 100, description: 'live page viewers at most; one more gets HTTP 503 with Retry-After (0 = no limit)' },
  liveMaxViewersPerAddress: { env: 'LIVE_MAX_VIEWERS_PER_ADDRESS', type: 'count', default: 10, description: 'live page viewers from one address at most (0 = no limit)' },
  liveMaxBehindBytes: { env: 'LIVE_MAX_BEHIND_BYTES', type: 'count', default: 4194304, description: 'a live page viewer with more than this unsent (at least twice the snapshot) is disconnected at once; its browser reconnects to a fresh snapshot' },
  redisUrl: { env: 'REDIS_URL', type: 'redis', default: '', description: 'empty: one gateway on its own (the default); redis://host:6379: this gateway is a node of a cluster on that Redis (brokers, partitioned rules, shared rule state)' },
  nodeId: { env: 'NODE_ID', type: 'nodeId', default: '', description: 'this node\'s name in the cluster (unique; keep it across restarts so the node gets its partitions back); empty = the machine\'s host name' },
  partitions: { env: 'PARTITIONS', type: 'partitions', default: 16, description: 'rule partitions (sites are hashed onto them); the same on every node: the first node to start fixes it in Redis' },
  leaseMs: { env: 'LEASE_MS', type: 'lease', default: 4000, description: 'how long a node\'s lease on a partition (and its membership) lasts without renewal: a dead node\'s partitions are taken over after about this long' },
  mqttRedisWaitMs: { env: 'MQTT_REDIS_WAIT_MS', type: 'count', default: 30000, description: 'a cluster node: an MQTT client that connects while Redis (where sessions live) is unreachable waits this long for it, then is refused with CONNACK 3, server unavailable (0 = refused at once)' },
  mqttHeartbeatMs: { env: 'MQTT_HEARTBEAT_MS', type: 'lease', default: 1000, description: 'cluster brokers\' heartbeat: a node silent for 3 of them is dead and its clients\' wills are published by another node' },
} as const;

type SettingSpec = (typeof SETTINGS)[keyof typeof SETTINGS];
/** What each type of setting reads as. */
interface TypeValues {
  port: number;
  count: number;
  boolean: boolean;
  string: string;
  name: string;
  url: string;
  credentials: string;
  topic: string;
  level: LogLevel;
  format: LogFormat;
  mode: 'auto' | 'never';
  tristate: 'auto' | 'true' | 'false';
  role: 'device' | 'actuator' | 'observer' | 'admin';
  redis: string;
  nodeId: string;
  partitions: number;
  lease: number;
}
type ValueOf<S extends SettingSpec> = TypeValues[S['type']];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type Settings = { readonly [K in keyof typeof SETTINGS]: ValueOf<(typeof SETTINGS)[K]> } & {
  /** Which settings came from the environment rather than defaults (the embedded InfluxDB needs to know). */
  readonly explicit: ReadonlySet<keyof typeof SETTINGS>;
};

const typeSchemas = {
  port: { type: 'integer', minimum: 0, maximum: 65535 },
  // Checked as a URL after the schema (see urlProblem): Ajv's formats are a separate package.
  url: { type: 'string' },
  // Empty (the default), or name:role pairs.
  credentials: { type: 'string', pattern: '^(|[A-Za-z0-9_-]{1,64}:(observer|admin)(,[A-Za-z0-9_-]{1,64}:(observer|admin))*)$' },
  count: { type: 'integer', minimum: 0 },
  string: { type: 'string' },
  name: { type: 'string', pattern: SEGMENT_SOURCE },
  topic: { type: 'string', pattern: '^[^/#+$][^#+]{0,127}$' },
  boolean: { type: 'boolean' },
  level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  format: { enum: LOG_FORMATS },
  mode: { enum: ['auto', 'never'] },
  tristate: { enum: ['auto', 'true', 'false'] },
  role: { enum: ['device', 'actuator', 'observer', 'admin'] },
  // Checked as a redis:// URL after the schema (see redisUrlProblem).
  redis: { type: 'string' },
  nodeId: { type: 'string', pattern: '^(|[A-Za-z0-9_-]{1,64})$' },
  partitions: { type: 'integer', minimum: 1, maximum: 1024 },
  lease: { type: 'integer', minimum: 100 },
} as const;

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    // A count where 0 (or a few) would leave the gateway running and useless has its own minimum.
    Object.entries(SETTINGS).map(([key, spec]) => [key, { ...typeSchemas[spec.type], ...('minimum' in spec ? { minimum: spec.minimum } : {}), default: spec.default, description: spec.description }]),
  ),
};

const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true });
const validate = ajv.compile(schema);

/** Reads settings from an environment (process.env by default), validates them once, and freezes them. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof typeof SETTINGS, unknown>> = {}): Settings {
  const raw: Record<string, unknown> = {};
  const explicit = new Set<keyof typeof SETTINGS>();
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof typeof SETTINGS, SettingSpec][]) {
    const value = overrides[key] ?? env[spec.env];
    if (value === undefined || value === '') continue;
    raw[key] = value;
    explicit.add(key);
  }
  const problems: string[] = [];
  if (!validate(raw)) {
    for (const e of validate.errors ?? []) {
      const key = e.instancePath.slice(1) as keyof typeof SETTINGS;
      const spec = SETTINGS[key] as SettingSpec | undefined;
      const name = spec ? spec.env : key || 'settings';
      const given = spec ? ` (got ${JSON.stringify(raw[key])})` : '';
      problems.push(`${name}: ${messageOf(e)}${given}`);
    }
  }
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof typeof SETTINGS, SettingSpec][]) {
    const value = raw[key];
    if ((spec.type !== 'url' && spec.type !== 'redis') || typeof value !== 'string') continue;
    // REDIS_URL empty (the default): one gateway on its own.
    if (spec.type === 'redis' && value === '') continue;
    const problem = spec.type === 'url' ? urlProblem(value) : redisUrlProblem(value);
    if (problem) problems.push(`${spec.env}: ${problem} (got ${JSON.stringify(value)})`);
  }
  if (problems.length > 0) throw new GatewayError('GW_ERR_SETTINGS', problems.join('; '));
  return Object.freeze({ ...(raw as Omit<Settings, 'explicit'>), explicit });
}

/** Ajv's words, except where they leave out what would be right: an enum lists its values. */
function messageOf(e: ErrorObject): string {
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`;
  if (e.keyword === 'type' && (e.params as { type: string }).type === 'boolean') return 'must be true or false';
  return e.message ?? 'is invalid';
}

/** An http(s) URL with a host, or what is wrong with it ("localhost:8086" parses as scheme "localhost:"). */
function urlProblem(text: string): string | undefined {
  return schemeUrlProblem(text, ['http:', 'https:'], 'http://127.0.0.1:8086', (protocol) => `must be an http:// or https:// URL such as http://127.0.0.1:8086 (the scheme is missing or ${JSON.stringify(protocol.slice(0, -1))})`);
}

/** A redis:// (or rediss://) URL with a host, or what is wrong with it. */
function redisUrlProblem(text: string): string | undefined {
  return schemeUrlProblem(text, ['redis:', 'rediss:'], 'redis://127.0.0.1:6379', () => 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379');
}

/** A URL with one of `protocols` and a host, or what is wrong with it (`example` shows one). */
function schemeUrlProblem(text: string, protocols: readonly string[], example: string, wrongScheme: (protocol: string) => string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be a URL such as ${example}`;
  }
  if (!protocols.includes(url.protocol)) return wrongScheme(url.protocol);
  if (!url.hostname) return `must name a host, such as ${example}`;
  return undefined;
}

/** Read by the command-line tools, not the gateway: not unknown. */
const TOOL_VARIABLES = ['MQTT_URL', 'GATEWAY_URL', 'GATEWAY_USERNAME', 'GATEWAY_PASSWORD'];
/** Other programs' variables that share a prefix or a spelling with the settings. */
/** Other programs' variables near a setting's name (OpenSSL's SSL_CERT_FILE is two edits from TLS_CERT_FILE). */
const OTHERS = new Set(['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'SSL_CERT_FILE', 'SSL_CERT_DIR']);
/** A variable under these prefixes is meant for the gateway. */
const PREFIXES = ['MQTT_', 'INFLUX_', 'SPOOL_', 'LIVE_', 'RULES_', 'COMMAND_', 'LOGIN_', 'EMBEDDED_', 'GATEWAY_', 'REDIS_'];

/**
 * Variables in `env` that look like settings and are none (a typo is otherwise ignored without a
 * word): under a settings prefix, or within two edits of a setting's name; each with the setting
 * it is closest to. Sorted by name.
 */
export function unknownSettings(env: NodeJS.ProcessEnv): { name: string; closest: string }[] {
  const known = [...Object.values(SETTINGS).map((s: SettingSpec) => s.env), ...TOOL_VARIABLES];
  const out: { name: string; closest: string }[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.includes(name) || OTHERS.has(name)) continue;
    let closest = known[0]!;
    let best = Number.POSITIVE_INFINITY;
    for (const k of known) {
      const d = editDistance(name, k);
      if (d < best) [best, closest] = [d, k];
    }
    if (PREFIXES.some((p) => name.startsWith(p)) || (name.length >= 6 && best <= 2)) out.push({ name, closest });
  }
  return out;
}

/** The settings table as documentation rows (used by the README test and `--help`). */
export function describeSettings(): { env: string; default: string; description: string }[] {
  return Object.values(SETTINGS).map((s: SettingSpec) => ({ env: s.env, default: String(s.default), description: s.description }));
}

/** True when the 2.x API should be used for writes. */
export function usesInflux2(settings: Settings): boolean {
  return settings.influxToken !== '' && settings.influxOrg !== '' && settings.influxBucket !== '';
}
