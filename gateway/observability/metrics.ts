import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Gauges whose value a component reports when it exists (see `Metrics.readFrom`). */
export type GaugeSource = 'ruleTimers' | 'ruleWindowSeries' | 'ruleFilesRejected' | 'liveViewers';

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
  readonly history = this.counter('gateway_history_readings_total', 'Readings stored as history (older than the device’s latest, or stale): not fed to rules', ['kind']);
  readonly duplicates = this.counter('gateway_duplicates_total', 'Readings seen again (same id, or a QoS 1 redelivery): not stored or ruled twice');
  readonly deadLetters = this.counter('gateway_deadletters_total', 'Dead letters, by reason', ['reason']);
  readonly dropped = this.counter('gateway_dropped_total', 'Events that could not be kept, by reason (QoS 0 with the spool full)', ['reason']);
  readonly refusals = this.counter('gateway_refusals_total', 'Clients or packets refused, by reason', ['reason']);
  readonly throttled = this.counter('gateway_throttled_publishes_total', 'Publishes held back because their client exceeded PUBLISH_RATE (slowed, not dropped)');
  readonly ruleFirings = this.counter('gateway_rule_firings_total', 'Rule firings, by rule', ['rule']);
  readonly commands = this.counter('gateway_commands_total', 'Commands published, by actuator', ['actuator']);
  readonly commandsSuppressed = this.counter('gateway_commands_suppressed_total', 'Commands not sent because the actuator was already in that state', ['actuator']);
  readonly alerts = this.counter('gateway_alerts_total', 'Alerts published, by severity', ['severity']);
  readonly ruleErrors = this.counter('gateway_rule_errors_total', 'Rule evaluations that failed');
  readonly ruleReloads = this.counter('gateway_rule_reloads_total', 'Rule file loads, by result', ['result']);
  readonly writeBatches = this.counter('gateway_write_batches_total', 'InfluxDB write requests, by result', ['result']);
  readonly pointsWritten = this.counter('gateway_points_written_total', 'Points InfluxDB accepted');
  readonly writeRetries = this.counter('gateway_write_retries_total', 'Failed InfluxDB writes that will be retried');
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
  readonly liveViewersDropped = this.counter('gateway_live_viewers_dropped_total', 'Live page viewers cut off for reading too slowly');
  readonly clusterTakeovers = this.counter('gateway_cluster_takeovers_total', 'Partitions this node took over (rebuilt from their stream, then ruled live)');
  readonly clusterFenced = this.counter('gateway_cluster_fenced_total', 'Writes Redis refused because this node’s fencing token was no longer the partition’s latest (GW_ERR_FENCED)');
  readonly clusterDuplicates = this.counter('gateway_cluster_duplicates_total', 'Stream entries dropped by a partition owner: their event id was ruled already');
  readonly clusterForwardSkipped = this.counter('gateway_cluster_forward_skipped_total', 'Readings stored but never forwarded to the rules: more than SPOOL_MAX_BYTES waited to be forwarded (Redis away for long)');
  readonly clusterForwarded = this.counter('gateway_cluster_forwarded_total', 'Readings and armed zones forwarded from this node’s spool to the partition streams');
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
    gauge('gateway_spool_bytes', 'Bytes in the spool not yet in InfluxDB', () => sources.spool().bytes);
    gauge('gateway_spool_events', 'Events in the spool not yet in InfluxDB (the write queue depth)', () => sources.spool().events);
    gauge('gateway_spool_oldest_age_seconds', 'Age of the oldest event not yet in InfluxDB', () => {
      const oldest = sources.spool().oldestAppendedAt;
      return oldest === undefined ? 0 : Math.max(0, (sources.now() - oldest) / 1000);
    });
    gauge('gateway_connected_clients', 'MQTT clients connected', () => sources.connectedClients());
    gauge('gateway_influx_up', '1 when the last InfluxDB write or ping succeeded', () => (sources.influxUp() ? 1 : 0));
    const reported = (source: GaugeSource) => (): number => this.readers.get(source)?.() ?? 0;
    gauge('gateway_rule_timers', 'Rule timers pending (one per watched device, zone or site at most)', reported('ruleTimers'));
    gauge('gateway_rule_window_series', 'Series of recent readings kept for the rules’ sliding windows', reported('ruleWindowSeries'));
    gauge('gateway_rule_files_rejected', 'Rule files whose last version was rejected (GW_ERR_RULE_FILE; the rules in force stay; /readyz says degraded)', reported('ruleFilesRejected'));
    gauge('gateway_live_viewers', 'Browsers connected to the live page event stream', reported('liveViewers'));
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
    labelled('gateway_cluster_redis_up', '1 while this node reaches the cluster’s Redis', [], (set) => {
      const c = cluster();
      if (c) set({}, c.redisUp ? 1 : 0);
    });
    labelled('gateway_cluster_live_nodes', 'Nodes this node sees alive', [], (set) => {
      const c = cluster();
      if (c) set({}, c.liveNodes);
    });
    labelled('gateway_cluster_partitions_owned', 'Partitions this node owns (rules)', [], (set) => {
      const c = cluster();
      if (c) set({}, c.owned.length);
    });
    labelled('gateway_cluster_partition_owned', '1 for each partition this node owns', ['partition'], (set) => {
      for (const p of cluster()?.owned ?? []) set({ partition: String(p) }, 1);
    });
    labelled('gateway_cluster_stream_lag_seconds', 'Per owned partition: how far the rules are behind the newest entry of its stream', ['partition'], (set) => {
      for (const [p, lag] of cluster()?.lagSeconds ?? []) set({ partition: String(p) }, lag);
    });
    labelled('gateway_cluster_forward_backlog_events', 'Spool events not yet forwarded to the partition streams (they wait while Redis is away)', [], (set) => {
      const c = cluster();
      if (c) set({}, c.forwardBacklog);
    });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
