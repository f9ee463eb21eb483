import type { AuthenticateError } from 'aedes';
import { GatewayError } from '../core/errors.js';
import { InflightLimitError } from './persistence.js';
import type { RefusalReason } from './refusals.js';

/** An error the gateway made to refuse a client: already counted and logged, so not counted again as a protocol error. */
export class Refusal extends GatewayError {
  constructor(
    message: string,
    readonly returnCode?: AuthenticateError['returnCode'],
  ) {
    super(returnCode === undefined ? 'GW_ERR_ACCESS' : 'GW_ERR_AUTH', message);
  }
}

/**
 * Redis failed a cluster node's broker (its sessions, subscriptions, retained messages, wills):
 * Redis is away or refused, not the client's doing, so never counted as a protocol error.
 */
export class StoreUnavailableError extends GatewayError {
  override readonly name = 'StoreUnavailableError';
  constructor(cause: unknown) {
    super('GW_ERR_REDIS_UNREACHABLE', `Redis failed the broker's sessions: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * What an error Aedes reports for a client is: a refusal to count (`cut` when the client is
 * stuck and is being cut), or nothing to count (our own refusals, socket resets, keep-alive
 * timeouts are the network's doing, not the client's).
 */
export function clientErrorRefusal(err: Error & { code?: string }, maxPacketBytes: number): { reason: RefusalReason; detail: string; cut?: true } | undefined {
  if (err instanceof Refusal || err instanceof InflightLimitError) return undefined;
  // Redis (a cluster's sessions) failed during the client's CONNECT or delivery: not the client's doing.
  if (err instanceof StoreUnavailableError) return { reason: 'store_unavailable', detail: err.message };
  // Aedes' own CONNACK refusals (ours are Refusals, counted already): an MQTT 5 client is the usual one.
  const connack = (err as { errorCode?: number }).errorCode;
  if (connack === 1) return { reason: 'unsupported_protocol', detail: 'MQTT protocol version not supported: the broker speaks MQTT 3.1.1 and 3.1 (set the client to 3.1.1, e.g. mosquitto_pub -V mqttv311)' };
  if (connack === 2) return { reason: 'protocol_error', detail: 'client id over 23 characters, which MQTT 3.1 does not allow (use MQTT 3.1.1)' };
  if (connack !== undefined) return undefined;
  if (err.message === 'connect did not arrive in time') return { reason: 'connect_timeout', detail: 'no CONNECT within MQTT_CONNECT_TIMEOUT_MS' };
  if (err.message === 'drain timeout') return { reason: 'slow_subscriber', detail: 'read nothing for MQTT_SLOW_CLIENT_TIMEOUT_MS with messages waiting', cut: true };
  // Aedes' own per-connection backstop (maxInflightInbound = MQTT_MAX_INFLIGHT_QOS2).
  if (err.message.startsWith('maxInflightInbound exceeded')) return { reason: 'inflight_qos2', detail: err.message };
  // A write to a connection closed meanwhile: the close is the news, if any.
  if (err.message === 'connection closed') return undefined;
  // The WebSocket layer refuses a message over its maxPayload (MAX_PACKET_BYTES) itself.
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return { reason: 'packet_too_large', detail: `WebSocket message over MAX_PACKET_BYTES (${maxPacketBytes})` };
  if (err.code?.startsWith('WS_ERR_')) return { reason: 'protocol_error', detail: err.message };
  // Socket errors (ECONNRESET, EPIPE, …) and keep-alive timeouts are the network's, not the client's doing.
  if (err.code !== undefined || err.message === 'keep alive timeout') return undefined;
  return { reason: 'protocol_error', detail: err.message };
}
