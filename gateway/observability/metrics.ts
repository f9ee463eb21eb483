import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { logLinesDropped } from './log-destination.js';

/** Gauges whose value a component reports when it exists (see `Metrics.readFrom`). */
export type GaugeSource =
  | 'ruleTimers'
  | 'ruleWindowSeries'
  | 'ruleFilesRejected'
  | 'liveViewers'
  | 'pendingConnections'
  | 'mqttWaitingForRedis'
  | 'inflightQos2'
  | 'offlineQueuedMessages'
  | 'offlineQueuedBytes'
  | 'retainedBytes'
  | 'alarmsActive'
  | 'commandsPending'
  | 'deadLettersUnstored';

/** What a cluster node reports at scrape time (cluster/node.ts). */
export interface ClusterStatus {
  readonly node: string;
  readonly redisUp: boolean;
  readonly owned: readonly number[];
  /** Seconds between the newest entry of an owned partition's stream and the last one ruled. */
  readonly lagSeconds: ReadonlyMap<number, number>;
  /** Spool events not yet forwarded to Redis. */
  readonly forwardBacklog: number;
  readonly liveNodes: number;
}

/** Values read at scrape time from the components that own them. */
export interface MetricSources {
  spool(): { bytes: number; events: number; oldestAppendedAt: number | undefined };
  connectedClients(): number;
  influxUp(): boolean;
  /** The disk under the spool: free bytes when last read, and whether writes fail now. */
  spoolDisk?(): { freeBytes: number | undefined; writeFailing: boolean };
  now(): number;
}

/**
 * Every Prometheus metric of one gateway, declared here and nowhere else, on its own registry
 * (tests run several gateways in one process). Counters are bumped on the hot path; gauges are
 * read at scrape time, from the sources given or from what a component registers with readFrom().
 */
export class Metrics {
  readonly registry = new Registry();
  /** Readings by kind, counted in a plain Map on the hot path and handed to prom-client at scrape time. */
  private readonly readingTally = new Map<string, number>();
  readonly readings: Counter<'kind'> = (() => {
    const tally = this.readingTally;
    return new Counter({
      name: 'gateway_readings_total',
      help: 'Readings accepted, by kind',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [kind, n] of tally) this.inc({ kind }, n);
      },
    });
  })();
  private readonly nativeTally = new Map<string, number>();
  readonly nativeMessages: Counter<'family' | 'outcome'> = (() => {
    const tally = this.nativeTally;
    return new Counter({
      name: 'gateway_native_messages_total',
      help: 'Messages from native devices (Zigbee2MQTT, Tasmota, Shelly, ESPHome, Home Assistant discovery, generic), by family and outcome: placed (stored), unmapped (only keys that map to no kind: counted per device in /api/devices), unassigned (waiting for a zone: dead letter), recognised (not a reading), refused (a discovery config the gateway cannot use), failure (dead letter)',
      labelNames: ['family', 'outcome'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [key, n] of tally) {
          const [family = '', outcome = ''] = key.split('\u0000');
          this.inc({ family, outcome }, n);
        }
      },
    });
  })();
  readonly history = this.counter('gateway_history_readings_total', 'Readings stored as history (older than the device’s latest, or stale): not fed to rules', ['kind']);
  readonly duplicates = this.counter('gateway_duplicates_total', 'Readings seen again (same id and content, or a QoS 1 redelivery): not stored or ruled twice');
  readonly idReuse = this.counter('gateway_id_reuse_total', 'Readings whose id came again with other content (value or ts): kept as new readings (GW_ERR_ID_REUSE)', ['kind']);
  readonly secondsTs = this.counter('gateway_seconds_ts_total', 'Readings whose numeric ts reads as before 1973 (below 1e11 ms): almost surely epoch seconds where the contract says milliseconds; stored at that ts, as history', ['kind']);
  readonly futureTs = this.counter('gateway_future_ts_total', 'Readings dated more than 2 s ahead of the gateway clock (within the allowed skew): stored at their ts, judged by when they arrived', ['kind']);
  readonly deadLetters = this.counter('gateway_deadletters_total', 'Dead letters, by reason', ['reason']);
  readonly dropped = this.counter('gateway_dropped_total', 'Events that could not be kept, by reason (QoS 0 with the spool full)', ['reason']);
  readonly refusals = this.counter('gateway_refusals_total', 'Clients or packets refused, by reason', ['reason']);
  readonly keypadRefusals = this.counter('gateway_keypad_refusals_total', 'Keypad presses refused without a code check, by reason: locked_out (answered invalid_code, a keypad fail reading), checks_queued (answered not_ready)', ['reason']);
  readonly throttled = this.counter('gateway_throttled_publishes_total', 'Publishes held back because their client exceeded PUBLISH_RATE (slowed, not dropped)');
  readonly ruleFirings = this.counter('gateway_rule_firings_total', 'Rule firings, by rule', ['rule']);
  readonly commands = this.counter('gateway_commands_total', 'Commands published, by actuator', ['actuator']);
  readonly commandsSuppressed = this.counter('gateway_commands_suppressed_total', 'Commands not sent because the actuator was already in that state', ['actuator']);
  readonly alerts = this.counter('gateway_alerts_total', 'Alerts published, by severity', ['severity']);
  readonly outputsUnstored = this.counter('gateway_outputs_unstored_total', 'Commands and alerts published before the spool had them on disk (it did not commit within COMMAND_STORE_WAIT_MS), by kind', ['kind']);
  readonly ruleErrors = this.counter('gateway_rule_errors_total', 'Rule evaluations that failed');
  readonly ruleReloads = this.counter('gateway_rule_reloads_total', 'Rule file loads, by result', ['result']);
  readonly writeBatches = this.counter('gateway_write_batches_total', 'InfluxDB write requests, by result', ['result']);
  readonly pointsWritten = this.counter('gateway_points_written_total', 'Points InfluxDB accepted');
  readonly writeRetries = this.counter('gateway_write_retries_total', 'Failed InfluxDB writes that will be retried');
  readonly storeRefusals = this.counter('gateway_store_refusals_total', 'InfluxDB write requests refused (400, 413, 422), by status: split and retried, never taken at their word (see GW_ERR_INFLUX_REFUSING)', ['status']);
  readonly deadLettersRefused = this.counter('gateway_deadletters_refused_total', 'Times InfluxDB refused a dead letter: it went back into the spool to be retried (GW_ERR_DEADLETTER_REFUSED)');
  readonly writeLatency = new Histogram({
    name: 'gateway_write_latency_seconds',
    help: 'InfluxDB write request latency',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly listenerFailures = this.counter('gateway_bus_listener_failures_total', 'Event bus listeners that threw');
  readonly commandsDeferred = this.counter('gateway_commands_deferred_total', 'Commands held back by an actuator’s minimum on/off time (the rules run again when it is up), by actuator', ['actuator']);
  readonly ruleWakeups = this.counter(
    'gateway_rule_wakeups_total',
    'Rule runs started by a timer rather than a reading: watch (held for, absence) or retry (after a minimum on/off time)',
    ['type'],
  );
  readonly rulesOverloaded = this.counter('gateway_rules_overloaded_total', 'Readings stored but not run through the rules because the rules were too far behind');
  readonly ruleRoutesReset = this.counter('gateway_rule_routes_reset_total', 'Times the rules’ cache of which rules serve which device and kind filled (50,000 entries since the rules were loaded: that many devices, or made-up device ids) and was started afresh');
  readonly commandsHeld = this.counter('gateway_commands_held_total', 'Commands not sent because someone took the actuator over by hand (manual_override, MANUAL_HOLD_MS), by actuator', ['actuator']);
  readonly alarmTransitions = this.counter('gateway_alarm_transitions_total', 'Alarm transitions (raised, updated, acknowledged, cleared), by transition and severity', ['transition', 'severity']);
  readonly commandStatuses = this.counter('gateway_command_statuses_total', 'Steps of command sagas (sent, confirmed, retried, failed, overridden, superseded), by status', ['status']);
  readonly rebuildSeconds = new Gauge({ name: 'gateway_rules_rebuild_seconds', help: 'How long the rules took to rebuild their state from the stored history at start', registers: [this.registry] });
  readonly nativeCommands = this.counter('gateway_native_commands_total', 'Native commands for actuators the device map ties to a native device, by family and result (sent, unencodable, failed)', ['family', 'result']);
  readonly deviceRenames = this.counter('gateway_device_renames_total', 'Zigbee2MQTT devices renamed, by family and what the device map did: followed, not_in_map (it names neither name), conflict (it names the new name already: not followed, GW_ERR_DEVICE_RENAME), unsaved (followed in memory, DEVICES_FILE not written: GW_ERR_DEVICE_RENAME)', ['family', 'result']);
  readonly liveViewersDropped = this.counter('gateway_live_viewers_dropped_total', 'Live page viewers cut off for reading too slowly');
  readonly liveViewersRefused = this.counter('gateway_live_viewers_refused_total', 'Live page viewers turned away (HTTP 503): LIVE_MAX_VIEWERS or LIVE_MAX_VIEWERS_PER_ADDRESS reached');
  readonly httpRefusals = this.counter('gateway_http_refusals_total', 'HTTP requests and connections refused, by reason (unauthenticated, bad_credentials, forbidden, login_backoff, login_overloaded; max_connections, connections_per_address: HTTP_MAX_CONNECTIONS…; headers_timeout: HTTP_HEADERS_TIMEOUT_MS; bad_request: unparseable; invalid_request: a 400 answered to a request let in (its body, query or path), body_too_large: a 413; tls_handshake: an HTTPS handshake that failed or did not finish)', ['reason']);
  readonly offlineDropped = this.counter('gateway_offline_dropped_total', 'Messages dropped from persistent sessions’ queues (the oldest, beyond MQTT_MAX_QUEUED_MESSAGES or the byte bounds)');
  readonly sessionsExpired = this.counter('gateway_sessions_expired_total', 'Persistent sessions removed after MQTT_SESSION_EXPIRY_S away');
  readonly sessionsEvicted = this.counter('gateway_sessions_evicted_total', 'Persistent sessions removed early (the one away longest goes), by reason: away_sessions (more than MQTT_MAX_AWAY_SESSIONS clients were away), away_subscriptions (the sessions away held more than MQTT_MAX_AWAY_SUBSCRIPTIONS filters), credential_away_sessions (one credential had more than MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL away: its own oldest went)', ['reason']);
  readonly memoryEvictions = this.counter('gateway_memory_evictions_total', 'Entries a bounded in-memory table forgot to stay within its bound, by map (shelly_light_modes, shelly_outputs, zigbee2mqtt_outputs, zigbee2mqtt_json_seen, zigbee2mqtt_keys, zigbee2mqtt_forms: learnt again when the device says it again; http_connections_per_address: that address’s connections no longer counted; rule_devices, rule_zones, rule_series, rule_watches: what the rules remember, past 100,000 devices or zones; rule_actuators, rule_actuator_reports: past 100,000 actuators, the one idle longest; armed_zones: past 10,000 zones with an armed state, the disarmed one changed longest ago; silence_watch: the devices watched for silence, past 100,000; live_actuators, live_armed, live_reported: the live page, past 10,000 each; live_relay_states, live_relay_feed, live_relay_kept: a cluster’s live relay, past 50,000 states or 100 feed events an interval, or 50,000 readings or statuses kept in Redis; native_devices: GET /api/devices, past 10,000 devices or ~64 MiB; native_device_texts: a native device’s key name, value, text or sample cut to its bound) (GW_ERR_MEMORY_BOUND)', ['map']);
  readonly memoryRefusals = this.counter('gateway_memory_refusals_total', 'Newcomers a bounded in-memory table refused because every entry in it must stay, by map (rule_actuators: a command not sent, every actuator waiting for a confirmation or within its minimum on/off time; rule_actuator_reports: a report not kept; rule_sagas: a command not tracked; rule_alarms: an alarm not raised, 100,000 being active; armed_zones: a zone not armed, 10,000 being armed; discovery: a Home Assistant discovery config not learnt, the entities held or the sending credential\'s share full; discovery_config: a discovery config over what one may hold, a dead letter) (GW_ERR_MEMORY_FULL)', ['map']);
  readonly mqttSnapshotItems = new Gauge({ name: 'gateway_mqtt_snapshot_items', help: 'What the last snapshot of the broker’s state (DATA_DIR/mqtt-state.bin) holds, by item: sessions, queued (messages), retained, wills', labelNames: ['item'], registers: [this.registry] });
  readonly mqttSnapshotBytes = new Gauge({ name: 'gateway_mqtt_snapshot_bytes', help: 'Size of the last snapshot of the broker’s state', registers: [this.registry] });
  readonly mqttSnapshotSeconds = new Gauge({ name: 'gateway_mqtt_snapshot_seconds', help: 'Event-loop time the last snapshot took to gather and encode (the file is written off the loop)', registers: [this.registry] });
  readonly mqttSnapshotFailures = this.counter('gateway_mqtt_snapshot_failures_total', 'Snapshots of the broker’s state that could not be written (GW_ERR_MQTT_SNAPSHOT): the previous file stays, the next interval tries again');
  readonly mqttSnapshotUnreadable = this.counter('gateway_mqtt_snapshot_unreadable_total', 'Snapshots of the broker’s state found damaged at start (GW_ERR_MQTT_SNAPSHOT): moved aside, the broker started without them');
  readonly retainedCleared = this.counter('gateway_retained_cleared_total', 'Empty retained publishes: deletions of a topic\'s retained message (not readings, not dead letters)');
  readonly retainedRefused = this.counter('gateway_retained_refused_total', 'Retained publishes delivered but not retained, by reason (invalid: a dead letter; client_budget; total_budget; other_owner: a device’s credential on a topic another credential retained)', ['reason']);
  readonly slowSubscriberDropped = this.counter('gateway_slow_subscriber_dropped_total', 'QoS 0 deliveries skipped because the subscriber had MQTT_MAX_CLIENT_BUFFER_BYTES unsent');
  readonly clusterTakeovers = this.counter('gateway_cluster_takeovers_total', 'Partitions this node took over (rebuilt from their stream, then ruled live)');
  readonly clusterFenced = this.counter('gateway_cluster_fenced_total', 'Writes Redis refused because this node’s fencing token was no longer the partition’s latest (GW_ERR_FENCED)');
  readonly clusterDuplicates = this.counter('gateway_cluster_duplicates_total', 'Stream entries dropped by a partition owner: their event id was ruled already');
  readonly clusterUnreadable = this.counter('gateway_cluster_unreadable_total', 'Stream entries a partition owner could not read (a kind it does not know: keep DEVICES_FILE the same on every node), not ruled');
  readonly clusterLiveUnreadable = this.counter('gateway_cluster_live_unreadable_total', 'Live-page messages, or items in them, from other nodes that this node could not read (another version’s, or damaged): skipped, logged (rate-limited)');
  readonly clusterForwardSkipped = this.counter('gateway_cluster_forward_skipped_total', 'Readings stored but never forwarded to the rules: more than SPOOL_MAX_BYTES waited to be forwarded (Redis away for long)');
  readonly clusterLocalOnly = this.counter('gateway_cluster_local_only_total', 'MQTT messages delivered only to this node’s subscribers: Redis was away or refused the publish (GW_ERR_REDIS_UNREACHABLE)');
  readonly clusterDataLost = this.counter('gateway_cluster_data_lost_total', 'Times this node found Redis back without the cluster’s data (its epoch gone: restarted without persistence, or flushed): the shared rule state was lost (GW_ERR_CLUSTER_DATA_LOST)');
  readonly clusterForwarded = this.counter('gateway_cluster_forwarded_total', 'Readings, armed zones, actuator reports and device statuses forwarded from this node’s spool to the partition streams (a status once, though every partition’s stream gets it)');
  private readonly readers = new Map<GaugeSource, () => number>();
  private clusterStatus: (() => ClusterStatus) | undefined;

  /** A cluster node reports its status from now on (the gateway_cluster_* gauges stay empty otherwise). */
  readCluster(read: () => ClusterStatus): void {
    this.clusterStatus = read;
  }

  /** A component reports a gauge's value from now on (0 until one does). */
  readFrom(source: GaugeSource, read: () => number): void {
    this.readers.set(source, read);
  }

  /** One native-device message, by family and what became of it (a Map update on the hot path, like readings). */
  countNative(family: string, outcome: string): void {
    const key = `${family}\u0000${outcome}`;
    this.nativeTally.set(key, (this.nativeTally.get(key) ?? 0) + 1);
  }

  /** One reading accepted (the hot path: a Map update, not a prom-client label lookup). */
  countReading(kind: string): void {
    this.readingTally.set(kind, (this.readingTally.get(kind) ?? 0) + 1);
  }

  constructor(sources: MetricSources) {
    // prom-client's own names start with process_ and nodejs_: one gateway_ in front, not two prefixes.
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    };
    new Counter({
      name: 'gateway_log_lines_dropped_total',
      help: 'Log lines dropped because the log destination could not take them (a full disk, a closed pipe: GW_ERR_LOG_WRITE)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(logLinesDropped());
      },
    });
    gauge('gateway_spool_bytes', 'Bytes in the spool not yet in InfluxDB', () => sources.spool().bytes);
    gauge('gateway_spool_events', 'Events in the spool not yet in InfluxDB (the write queue depth)', () => sources.spool().events);
    gauge('gateway_spool_oldest_age_seconds', 'Age of the oldest event not yet in InfluxDB', () => {
      const oldest = sources.spool().oldestAppendedAt;
      return oldest === undefined ? 0 : Math.max(0, (sources.now() - oldest) / 1000);
    });
    gauge('gateway_spool_disk_free_bytes', 'Bytes free on the disk under the spool (DATA_DIR) when last read', () => sources.spoolDisk?.().freeBytes ?? 0);
    gauge('gateway_spool_write_failing', '1 while the spool cannot write (disk full, I/O error): acknowledgements wait (GW_ERR_SPOOL_WRITE)', () => (sources.spoolDisk?.().writeFailing ? 1 : 0));
    gauge('gateway_connected_clients', 'MQTT clients connected', () => sources.connectedClients());
    gauge('gateway_influx_up', '1 when the last InfluxDB write or ping succeeded', () => (sources.influxUp() ? 1 : 0));
    const reported = (source: GaugeSource) => (): number => this.readers.get(source)?.() ?? 0;
    gauge('gateway_rule_timers', 'Rule timers pending (one per watched device, zone or site at most)', reported('ruleTimers'));
    gauge('gateway_rule_window_series', 'Series of recent readings kept for the rules’ sliding windows', reported('ruleWindowSeries'));
    gauge('gateway_rule_files_rejected', 'Rule files whose last version was rejected (GW_ERR_RULE_FILE; the rules in force stay; /readyz says degraded)', reported('ruleFilesRejected'));
    gauge('gateway_deadletters_unstored', 'Dead letters InfluxDB refused, waiting in the spool to be retried (/readyz is not ready meanwhile)', reported('deadLettersUnstored'));
    gauge('gateway_live_viewers', 'Browsers connected to the live page event stream', reported('liveViewers'));
    gauge('gateway_pending_connections', 'MQTT connections open but not yet authenticated', reported('pendingConnections'));
    gauge('gateway_mqtt_waiting_for_redis', 'A cluster node: MQTT clients whose CONNECT waits for Redis, where sessions live (up to MQTT_REDIS_WAIT_MS)', reported('mqttWaitingForRedis'));
    gauge('gateway_inflight_qos2_messages', 'QoS 2 messages received and not yet released (awaiting PUBREL), all clients', reported('inflightQos2'));
    gauge('gateway_offline_queued_messages', 'Messages queued for persistent sessions, all clients', reported('offlineQueuedMessages'));
    gauge('gateway_offline_queued_bytes', 'Bytes queued for persistent sessions, all clients, as counted against MQTT_MAX_QUEUED_BYTES_TOTAL (payload, topic and 280 bytes per message)', reported('offlineQueuedBytes'));
    gauge('gateway_retained_bytes', 'Retained bytes (payload and topic) kept, all clients', reported('retainedBytes'));
    gauge('gateway_alarms_active', 'Alarms raised and not cleared', reported('alarmsActive'));
    gauge('gateway_commands_pending', 'Commands waiting for their actuator to confirm them', reported('commandsPending'));
    const cluster = (): ClusterStatus | undefined => this.clusterStatus?.();
    const labelled = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, value: number) => void) => void): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          read((labels, value) => this.set(labels, value));
        },
      });
    };
    labelled('gateway_cluster_node_info', 'This cluster node (1), by node id', ['node'], (set) => {
      const c = cluster();
      if (c) set({ node: c.node }, 1);
    });
    // A cluster node's own figure: no value at all outside a cluster.
    const ofCluster = (name: string, help: string, read: (c: ClusterStatus) => number): void => {
      labelled(name, help, [], (set) => {
        const c = cluster();
        if (c) set({}, read(c));
      });
    };
    ofCluster('gateway_cluster_redis_up', '1 while this node reaches the cluster’s Redis', (c) => (c.redisUp ? 1 : 0));
    ofCluster('gateway_cluster_live_nodes', 'Nodes this node sees alive', (c) => c.liveNodes);
    ofCluster('gateway_cluster_partitions_owned', 'Partitions this node owns (rules)', (c) => c.owned.length);
    labelled('gateway_cluster_partition_owned', '1 for each partition this node owns', ['partition'], (set) => {
      for (const p of cluster()?.owned ?? []) set({ partition: String(p) }, 1);
    });
    labelled('gateway_cluster_stream_lag_seconds', 'Per owned partition: how far the rules are behind the newest entry of its stream', ['partition'], (set) => {
      for (const [p, lag] of cluster()?.lagSeconds ?? []) set({ partition: String(p) }, lag);
    });
    ofCluster('gateway_cluster_forward_backlog_events', 'Spool events not yet forwarded to the partition streams (they wait while Redis is away)', (c) => c.forwardBacklog);
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
