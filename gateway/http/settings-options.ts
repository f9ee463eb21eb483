import type { TlsMaterial } from '../broker/tls.js';
import type { Settings } from '../config/settings.js';
import type { HttpLimits } from './connection-limits.js';
import type { HttpOptions } from './server.js';

/** The HTTP servers' connection caps and headers timeout. */
export function httpLimits(settings: Settings): HttpLimits {
  return { maxConnections: settings.httpMaxConnections, maxPerAddress: settings.httpMaxConnectionsPerAddress, headersTimeoutMs: settings.httpHeadersTimeoutMs };
}

/** HTTPS for the HTTP API when TLS is configured (the same certificate as MQTT over TLS, read once at start). */
export function httpsOptions(settings: Settings, tls: TlsMaterial | undefined): HttpOptions['tls'] {
  return tls && { ...tls, port: settings.httpsPort, handshakeTimeoutMs: settings.connectTimeoutMs };
}
