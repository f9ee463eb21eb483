import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ErrorCode } from '../core/errors.js';
import { RefusalLog } from '../observability/refusal-log.js';
import type { Metrics } from '../observability/metrics.js';
import type { Now } from './limits.js';

/** Why a client, a connection or a packet was refused: the `reason` label of `gateway_refusals_total`. */
export const REFUSAL_REASONS = {
  bad_credentials: 'GW_ERR_AUTH',
  anonymous_refused: 'GW_ERR_AUTH',
  client_id_mismatch: 'GW_ERR_AUTH',
  client_id_taken: 'GW_ERR_AUTH',
  login_backoff: 'GW_ERR_AUTH',
  publish_denied: 'GW_ERR_ACCESS',
  subscribe_denied: 'GW_ERR_ACCESS',
  will_denied: 'GW_ERR_ACCESS',
  topic_too_long: 'GW_ERR_LIMIT',
  topic_too_deep: 'GW_ERR_LIMIT',
  packet_too_large: 'GW_ERR_LIMIT',
  max_connections: 'GW_ERR_LIMIT',
  credential_connections: 'GW_ERR_LIMIT',
  pending_connections: 'GW_ERR_LIMIT',
  connect_timeout: 'GW_ERR_LIMIT',
  inflight_qos2: 'GW_ERR_LIMIT',
  too_many_subscriptions: 'GW_ERR_LIMIT',
  credential_subscriptions: 'GW_ERR_LIMIT',
  total_subscriptions: 'GW_ERR_LIMIT',
  slow_subscriber: 'GW_ERR_LIMIT',
  login_overloaded: 'GW_ERR_AUTH',
  malformed_packet: 'GW_ERR_PROTOCOL',
  protocol_error: 'GW_ERR_PROTOCOL',
  unsupported_protocol: 'GW_ERR_PROTOCOL',
  tls_handshake: 'GW_ERR_PROTOCOL',
  cross_origin: 'GW_ERR_AUTH',
  store_unavailable: 'GW_ERR_REDIS_UNREACHABLE',
} as const satisfies Record<string, ErrorCode>;

export type RefusalReason = keyof typeof REFUSAL_REASONS;

export interface RefusalFields {
  readonly clientId?: string | undefined;
  readonly username?: string | undefined;
  readonly address?: string | undefined;
  readonly topic?: string | undefined;
}

/** Same reason from the same address (and, once logged in, client id): one log line per this long, with a count of the ones left out. */
const LOG_EVERY_MS = 10_000;
const TOPIC_LOG_CHARS = 256;
/**
 * Refusals before a client is who it says: its client id is its own choice, and a new one per
 * try would get a line each (an outside tester's 500 looping clients wrote 1 MB of log a second).
 * A wrong secret is told per username: the login back-off bounds those (then `login_backoff`).
 */
const BY_ADDRESS: ReadonlySet<RefusalReason> = new Set<RefusalReason>([
  'anonymous_refused', 'login_backoff', 'login_overloaded', 'max_connections', 'pending_connections',
  'connect_timeout', 'malformed_packet', 'protocol_error', 'unsupported_protocol', 'tls_handshake',
  // An outage refuses every client at once: one line per address (a proxy's: one in all) says it.
  'store_unavailable',
]);
const BY_USERNAME: ReadonlySet<RefusalReason> = new Set<RefusalReason>(['bad_credentials', 'client_id_mismatch', 'client_id_taken', 'credential_connections', 'credential_subscriptions']);

/**
 * Counts every refusal and logs it with its reason, code and who it was; a client hammering
 * the broker yields one line per reason every 10 s (with `suppressed`), not a flood.
 */
export class RefusalReporter {
  private readonly log: RefusalLog<RefusalReason>;

  constructor(metrics: Metrics, log: Logger, now: Now = () => performance.now()) {
    this.log = new RefusalLog({ counter: metrics.refusals, log, code: (reason) => REFUSAL_REASONS[reason], message: (reason) => `refused: ${reason}`, now, everyMs: LOG_EVERY_MS });
  }

  refuse(reason: RefusalReason, fields: RefusalFields, detail: string): void {
    const topic = fields.topic !== undefined && fields.topic.length > TOPIC_LOG_CHARS ? `${fields.topic.slice(0, TOPIC_LOG_CHARS)}…` : fields.topic;
    const address = fields.address ?? '';
    const who = BY_ADDRESS.has(reason) ? address : BY_USERNAME.has(reason) ? `${address}|u:${fields.username ?? ''}` : `${address}|${fields.clientId ?? ''}`;
    this.log.refuse(reason, who, { ...fields, topic }, detail);
  }
}
