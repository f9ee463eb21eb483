import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { LOOPBACK, addressedToLoopback } from '../core/loopback.js';
import type { CredentialStore, Role } from '../broker/credentials.js';
import type { LoginGuard } from '../broker/login.js';
import { GatewayError, logWarn } from '../core/errors.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { sendJson } from '../core/http-json.js';

/** What a request needs: to read (GET the live page, its streams, /api, /metrics) or to act (change something). */
export type Need = 'read' | 'act';

export interface HttpPrincipal {
  readonly name: string;
  /** Undefined when HTTP asks for no credentials (loopback, none configured). */
  readonly role: Role | undefined;
}

export type Authorization =
  | { readonly ok: true; readonly principal: HttpPrincipal }
  | { readonly ok: false; readonly status: 401 | 403 | 429 | 503; readonly reason: HttpRefusal; readonly message: string; readonly retryAfterS?: number };

export type HttpRefusal = 'unauthenticated' | 'bad_credentials' | 'forbidden' | 'login_backoff' | 'login_overloaded';

export interface HttpAuthOptions {
  readonly store: CredentialStore;
  /** The same login check as MQTT's (back-off, unknown usernames, the scrypt queue). */
  readonly login: LoginGuard;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** HTTP_AUTH. */
  readonly mode: 'auto' | 'true' | 'false';
  /** Where the HTTP server listens. */
  readonly host: string;
}

/** Who may do what over HTTP. An `operator` role, if one is added, goes in ACT (and READ). */
const READ: ReadonlySet<Role> = new Set<Role>(['observer', 'admin']);
const ACT: ReadonlySet<Role> = new Set<Role>(['admin']);

const CHALLENGE = 'Basic realm="iot-gateway", charset="UTF-8"';

/**
 * HTTP authentication with the MQTT credentials: `Authorization: Basic` (what a browser sends
 * after the 401 challenge, also for the live page's EventSource, same origin) or
 * `Authorization: Bearer <name>:<secret>` for tools that only do bearer. Checked by the same
 * login guard as MQTT, so a checked secret costs one HMAC and a storm of wrong ones is held by
 * the same back-off and queue. Required once credentials exist or the server listens beyond
 * loopback (HTTP_AUTH=auto), the same rule as MQTT's anonymous access.
 */
export class HttpAuth {
  private readonly logLimiter: LogLimiter;

  constructor(private readonly o: HttpAuthOptions) {
    this.logLimiter = new LogLimiter(o.log, 1, 10_000);
    const loopback = LOOPBACK.test(o.host);
    if (o.mode === 'false' && !loopback) {
      throw new GatewayError('GW_ERR_SETTINGS', `HTTP_AUTH=false is allowed only on loopback, but HTTP listens on ${o.host}: set BIND_HOST=127.0.0.1, or leave HTTP_AUTH=auto`);
    }
    if (!loopback && o.mode !== 'false') {
      logWarn(o.log, 'GW_ERR_AUTH', { host: o.host }, 'HTTP asks for credentials, which cross the network in clear text (Basic): put the gateway behind a TLS-terminating proxy, or bind it to loopback');
    }
  }

  /** True when a request must carry credentials now (credentials may be added while running). */
  async required(): Promise<boolean> {
    if (this.o.mode !== 'auto') return this.o.mode === 'true';
    if (!LOOPBACK.test(this.o.host)) return true;
    await this.o.store.refresh();
    return this.o.store.size > 0;
  }

  /**
   * The one check every HTTP route goes through (and issue 11's actions will): the principal, or
   * the refusal to send (see `refuse`). Acting also needs a POST-like method from the same origin,
   * since a browser sends Basic credentials on its own.
   */
  async authorize(req: IncomingMessage, need: Need): Promise<Authorization> {
    if (need === 'act' && !sameOrigin(req)) return this.refused('forbidden', 403, 'cross-origin request refused');
    if (!(await this.required())) {
      // Open to this machine only, so only to requests addressed to it: a web page whose name was
      // rebound to 127.0.0.1 (DNS rebinding) reaches the socket, but its Host still names the page.
      // HTTP_AUTH=false is the operator's explicit choice (a local proxy may pass its own Host).
      if (this.o.mode === 'auto' && !addressedToLoopback(req.headers.host)) {
        return this.refused('forbidden', 403, `no credentials exist, so HTTP answers only requests addressed to this machine's loopback (localhost, 127.0.0.1, [::1]), not to ${JSON.stringify(req.headers.host)}: add one (npm run credentials) to reach the gateway by another name`);
      }
      return { ok: true, principal: { name: 'anonymous', role: undefined } };
    }
    const given = credentialsOf(req.headers.authorization);
    if (!given) return this.refused('unauthenticated', 401, 'credentials required');
    const address = req.socket.remoteAddress ?? 'unknown';
    const result = await this.o.login.check(address, given.name, Buffer.from(given.secret));
    if (!result.ok) {
      if (this.logLimiter.allow(`http ${result.reason} ${address}`)) logWarn(this.o.log, 'GW_ERR_AUTH', { reason: result.reason, username: given.name, address, detail: result.why }, `HTTP refused: ${result.reason}`);
      switch (result.reason) {
        case 'bad_credentials':
          return this.refused('bad_credentials', 401, 'wrong name or secret');
        case 'login_backoff':
          return this.refused('login_backoff', 429, 'too many failed logins: try again later', 60);
        case 'login_overloaded':
          return this.refused('login_overloaded', 503, 'too many logins being checked: try again', 1);
      }
    }
    const { name, role } = result.credential;
    if (!(need === 'act' ? ACT : READ).has(role)) return this.refused('forbidden', 403, `the ${role} role may not ${need} over HTTP`);
    return { ok: true, principal: { name, role } };
  }

  /** Sends a refusal, a JSON error like every answer: a 401 carries the challenge that makes a browser ask for name and secret. No data. */
  refuse(res: ServerResponse, a: Extract<Authorization, { ok: false }>): void {
    const headers: Record<string, string> = {};
    if (a.status === 401) headers['www-authenticate'] = CHALLENGE;
    if (a.retryAfterS !== undefined) headers['retry-after'] = String(a.retryAfterS);
    sendJson(res, a.status, { error: a.message }, headers);
  }

  private refused(reason: HttpRefusal, status: 401 | 403 | 429 | 503, message: string, retryAfterS?: number): Authorization {
    this.o.metrics.httpRefusals.inc({ reason });
    return { ok: false, status, reason, message, ...(retryAfterS !== undefined ? { retryAfterS } : {}) };
  }
}

function credentialsOf(header: string | undefined): { name: string; secret: string } | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2) as [string, string | undefined];
  if (!value) return undefined;
  const text = /^basic$/i.test(scheme) ? Buffer.from(value, 'base64').toString('utf8') : /^bearer$/i.test(scheme) ? value : undefined;
  const colon = text?.indexOf(':') ?? -1;
  if (text === undefined || colon <= 0) return undefined;
  return { name: text.slice(0, colon), secret: text.slice(colon + 1) };
}

/** No Origin (not a browser's cross-site request), or one naming this very host; never what a browser calls cross-site. */
function sameOrigin(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

