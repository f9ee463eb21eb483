/**
 * One catalogue of the gateway's errors. Codes are stable and never reused; the README's
 * "Errors" section lists every one (a test checks that).
 */
export const ERRORS = {
  GW_ERR_SETTINGS: 'a setting is invalid; the message names the environment variable and what is wrong',
  GW_ERR_DATA_DIR: 'DATA_DIR cannot be created or written, or another running gateway uses it',
  GW_ERR_LISTEN: 'a port could not be bound (in use, or no permission)',
  GW_ERR_RULE_FILE: 'a rule file is not valid JSON or not a valid rule pack; the rules in force stay (at a start, its last good version kept in DATA_DIR/rules-kept, if any)',
  GW_ERR_SCENARIO_FILE: 'a rule scenario file (rules/tests/) is not valid; the message names the scenario and the step',
  GW_ERR_REPLAY: 'a rule replay could not run: an empty time range, or InfluxDB refused the query',
  GW_ERR_INFLUX_UNREACHABLE: 'InfluxDB does not answer; events wait in the spool',
  GW_ERR_INFLUX_REJECTED: 'InfluxDB refused a point on its own (400) while it takes a known-good one; the point goes to the dead letters',
  GW_ERR_INFLUX_REFUSING: 'InfluxDB (or a proxy before it) refuses writes it should take: a 400 for a known-good point too, a 413 for a single point, or most of a batch; nothing is condemned, events wait in the spool',
  GW_ERR_DEADLETTER_REFUSED: 'InfluxDB refused a dead letter; it stays in the spool and is retried, /readyz is not ready until it is stored',
  GW_ERR_INFLUX_NOT_INSTALLED: 'no InfluxDB answers, none is installed, and this user cannot install one (or installing failed): the message names the command to run',
  GW_ERR_SPOOL_CORRUPT: 'a spool segment has a damaged record; the damaged tail is set aside',
  GW_ERR_SPOOL_WRITE: 'the spool cannot write to DATA_DIR (disk full, I/O error); it retries, and acknowledgements wait',
  GW_ERR_SPOOL_DISK_FULL: 'the disk under DATA_DIR has no room left above SPOOL_MIN_FREE_BYTES: QoS 1 waits, QoS 0 is dropped (counted) until InfluxDB takes what the spool holds or space is freed',
  GW_ERR_SPOOL_READ: 'the spool cannot be read back (a file error); the sink retries, events stay on disk',
  GW_ERR_SPOOL_FULL: 'the spool reached SPOOL_MAX_BYTES; QoS 1 is not acknowledged, QoS 0 is dropped',
  GW_ERR_RULES_OVERLOADED: 'the rules fell too far behind ingest; readings are stored but not ruled until they catch up',
  GW_ERR_HISTORY: 'the rules could not read their recent history from InfluxDB at start (they go on with the armed-zones file only; /readyz says so), or a trace could not query it',
  GW_ERR_ID_REUSE: 'a device sent a reading id again with other content (its counter restarted?); kept as a new reading, said once per device',
  GW_ERR_CLOCK_AHEAD: 'a device dates readings ahead of the gateway clock (within the allowed skew); stored at their ts, judged by when they arrived',
  GW_ERR_TS_SECONDS: 'a device dates readings before 1973: epoch seconds where the contract says milliseconds? Stored at that time, as history, not ruled',
  GW_ERR_LOG_WRITE: 'the log destination cannot be written (a full disk, a closed pipe): log lines are dropped and counted, never waited for',
  GW_ERR_MQTT_SNAPSHOT: 'the snapshot of the broker’s retained messages and persistent sessions (DATA_DIR/mqtt-state.bin) cannot be read at start (moved aside, the broker starts without them) or written (the previous one stays, retried)',
  GW_ERR_CREDENTIALS: 'the credentials file is unreadable or invalid',
  GW_ERR_KEYPAD_CODES: 'the keypad codes file (KEYPAD_CODES_FILE, DATA_DIR/keypad-codes.json) is unreadable or invalid: the codes in force stay; or a code given to `npm run keypad-codes` is refused',
  GW_ERR_TLS: 'the TLS certificate or key cannot be read',
  GW_ERR_AUTH: 'a client was refused at CONNECT or over HTTP (bad credentials, anonymous, client id, login back-off, too many checks waiting)',
  GW_ERR_ACCESS: 'a client tried to publish or subscribe outside what its role allows',
  GW_ERR_LIMIT: 'a client hit a limit (packet size, topic length or depth, connections, CONNECT deadline, publish rate, unreleased QoS 2, subscriptions, a subscriber too far behind)',
  GW_ERR_MEMORY_BOUND: 'a bounded in-memory table (what was learnt of native devices, open HTTP connections per address, what the rules remember per device, zone and actuator, the devices watched for silence, the live page tables) is full and forgets its oldest entries from now on: counted in gateway_memory_evictions_total, said once per table and burst (again after a quiet minute)',
  GW_ERR_MEMORY_FULL: 'a bounded in-memory table whose entries must all stay (active alarms; actuators whose command waits for its confirmation or within their minimum on/off time; the entities learnt from Home Assistant discovery configs) is full, or a discovery config holds more than one may: a newcomer is refused (a command not sent, an alarm not raised, a config not learnt), counted in gateway_memory_refusals_total, said once per table and burst (again after a quiet minute)',
  GW_ERR_PROTOCOL: 'a client sent malformed MQTT or failed the TLS handshake; it was disconnected',
  GW_ERR_DEVICE_MAP: 'the device map (DEVICES_FILE) is not valid YAML or not a valid map; the message names the entry and the problem; the map in force stays',
  GW_ERR_DEVICE_RENAME: 'a Zigbee2MQTT device was renamed but the device map could not follow: it names the new name already, or DEVICES_FILE could not be written; the message names the entries to edit',
  GW_ERR_NATIVE_COMMAND: 'a command could not be put into an actuator\'s own language (no encoder for the command, no command topic); the commands/ CloudEvent still went out',
  GW_ERR_NATIVE_REFUSED: 'a native device answered a command with an error (a Shelly Gen2+ RPC error on iot-gateway/rpc): it did not carry it out; the message names the device, its error and the command',
  GW_ERR_REDRIVE: 'a dead-letter redrive could not read the kept dead letters back from InfluxDB',
  GW_ERR_REDIS_UNREACHABLE: 'a cluster node cannot reach Redis: ingest and storage go on (the spool is local), the rules stop until Redis answers, forwarding resumes from its cursor',
  GW_ERR_CLUSTER: 'the cluster cannot be joined: PARTITIONS differs from what Redis holds, or NODE_ID is in use by a live node',
  GW_ERR_CLUSTER_DATA_LOST: 'Redis came back without the cluster\'s data (restarted without persistence, or flushed): the shared rule state (armed zones, minimum on/off times, sagas, active alarms, unsent commands) is gone and the fencing tokens restart; run Redis with --appendonly yes --appendfsync always',
  GW_ERR_FENCED: 'a node that had lost a partition tried to write with its old fencing token: Redis refused it and the node let the partition go',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** The least of a logger that the helpers below need (pino's Logger is one). */
interface CodedLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
type Fields = Readonly<Record<string, unknown>>;

/** Logs an operator-facing problem with its catalogue code (checked by the compiler, not a free string). */
export function logError(log: CodedLog | undefined, code: ErrorCode, fields: Fields, message: string): void {
  log?.error({ ...fields, code }, message);
}

export function logWarn(log: CodedLog | undefined, code: ErrorCode, fields: Fields, message: string): void {
  log?.warn({ ...fields, code }, message);
}

/** Every error the gateway makes on purpose carries a catalogue code; subclasses add what they know. */
export class GatewayError extends Error {
  override readonly name: string = 'GatewayError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}

/** A file (rule pack, scenario, device map) that cannot be used, with every problem found in it. */
export class FileProblemsError extends GatewayError {
  constructor(
    code: ErrorCode,
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(code, `${file}: ${problems.join('; ')}`);
  }
}
