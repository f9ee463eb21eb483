import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTlsServer, createSecureContext, type Server as TlsServer } from 'node:tls';
import { GatewayError } from '../core/errors.js';

/**
 * MQTT over TLS and MQTT over WebSocket over TLS, on their own ports, when a certificate and
 * key are configured. The servers are made here and handed to MqttBroker, which feeds their
 * connections to Aedes like the plain ones.
 */

export interface TlsSettings {
  readonly mqttsPort: number;
  readonly wssPort: number;
  /** The handshake (and the WebSocket upgrade) must be done within this, ms (MQTT_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
}

export interface TlsListener {
  readonly name: 'mqtts' | 'wss';
  readonly server: TlsServer | HttpsServer;
  readonly port: number;
  readonly ws?: boolean;
}

/** The certificate and key (PEM), as read from TLS_CERT_FILE and TLS_KEY_FILE. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads the PEM files, once at start for every TLS listener (MQTT, WebSocket, HTTPS): undefined
 * when neither file is set; throws GW_ERR_TLS naming the file and the problem, or when only one is.
 */
export function loadTlsMaterial(certFile: string, keyFile: string): TlsMaterial | undefined {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new GatewayError('GW_ERR_TLS', 'set both TLS_CERT_FILE and TLS_KEY_FILE to enable TLS (only one is set)');
  const read = (file: string, setting: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new GatewayError('GW_ERR_TLS', `${setting}=${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const material = { cert: read(certFile, 'TLS_CERT_FILE'), key: read(keyFile, 'TLS_KEY_FILE') };
  try {
    // Fails here, at start, on a malformed PEM or a key that does not match the certificate.
    createSecureContext(material);
  } catch (err) {
    throw new GatewayError('GW_ERR_TLS', `TLS_CERT_FILE=${certFile} / TLS_KEY_FILE=${keyFile}: ${(err as Error).message}`, { cause: err });
  }
  return material;
}

/** No listeners without TLS (`material` undefined: neither file set). */
export function createTlsListeners(material: TlsMaterial | undefined, s: TlsSettings, onHandshakeError: (err: Error, address: string | undefined) => void): TlsListener[] {
  if (!material) return [];
  const options = {
    ...material,
    minVersion: 'TLSv1.2' as const,
    ...(s.connectTimeoutMs ? { handshakeTimeout: s.connectTimeoutMs } : {}),
  };
  const mqtts = createTlsServer(options);
  const wss = createHttpsServer(options, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over secure WebSocket: connect to /mqtt\n');
  });
  if (s.connectTimeoutMs) {
    wss.headersTimeout = s.connectTimeoutMs;
    wss.requestTimeout = s.connectTimeoutMs;
  }
  for (const server of [mqtts, wss]) server.on('tlsClientError', (err, socket) => onHandshakeError(err, socket.remoteAddress));
  return [
    { name: 'mqtts', server: mqtts, port: s.mqttsPort },
    { name: 'wss', server: wss, port: s.wssPort, ws: true },
  ];
}
