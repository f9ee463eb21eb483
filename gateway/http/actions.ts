import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { SEGMENT } from '../core/segments.js';
import type { AlarmAckEvent } from '../core/events.js';
import type { AlarmView } from '../rules/alarms.js';
import type { ActuatorView, RulesService } from '../rules/service.js';
import type { HttpAuth } from './auth.js';
import { readBody, sendJson as send, tooLarge } from '../core/http-json.js';
import { parseAck, parseArmed } from '../ingest/control.js';
import { ACT_METHODS, READ_METHODS, type Methods, type RouteHandler } from './server.js';

/** What an HTTP caller may ask the gateway to do (reading is open, as /api/zones always was). */
export type HttpAction = 'alarm.ack' | 'zone.arm';

export type AuthDecision = { readonly ok: true; readonly who: string } | { readonly ok: false; readonly status: 401 | 403 | 429 | 503; readonly why: string };

/**
 * Whether a request may perform an action. HTTP authentication (`auth.ts`: an admin's
 * credentials, same origin) plugs in here; the HTTP routes know nothing else about who may do what.
 */
export type Authorize = (req: IncomingMessage, action: HttpAction) => AuthDecision | Promise<AuthDecision>;

/**
 * Actions through HTTP authentication: while HTTP asks for no credentials (loopback, none
 * configured) anyone on this machine may act; once it does, an admin's credentials (same origin).
 */
export function actWithHttpAuth(auth: HttpAuth): Authorize {
  return async (req) => {
    const a = await auth.authorize(req, 'act');
    if (!a.ok) return { ok: false, status: a.status, why: a.message };
    const who = a.principal.role === undefined ? `http:${req.socket.remoteAddress ?? ''}` : a.principal.name;
    return { ok: true, who };
  };
}

const MAX_BODY = 64 * 1024;

/** The segments of a path under `prefix`, still percent-encoded. */
const segments = (path: string, prefix: string): string[] => path.slice(prefix.length).split('/');

/** What each path under the prefixes serves (the HTTP server answers 405 for the rest); undefined: no such path, a 404. */
const METHODS: Readonly<Record<string, (path: string) => readonly string[] | undefined>> = {
  '/api/alarms/': (path) => {
    const [, action, ...rest] = segments(path, '/api/alarms/');
    return rest.length > 0 ? undefined : action === undefined ? READ_METHODS : action === 'ack' ? ACT_METHODS : undefined;
  },
  '/api/zones/': (path) => {
    const [, , what, ...rest] = segments(path, '/api/zones/');
    return what === 'armed' && rest.length === 0 ? ACT_METHODS : undefined;
  },
  '/api/trace/': (path) => (segments(path, '/api/trace/').length === 1 ? READ_METHODS : undefined),
};

/** What the API asks of the rules: a single gateway's RulesService, or a cluster node's view of every partition (cluster/rules-view.ts). */
export type RulesApi = Pick<RulesService, 'setArmed' | 'traceOf'> & {
  alarms(): AlarmView[];
  alarm(id: string): AlarmView | undefined;
  actuators(): ActuatorView[];
  acknowledge(a: Pick<AlarmAckEvent, 'alarmId' | 'by' | 'note' | 'id' | 'clear'>): AlarmView | undefined | Promise<AlarmView | undefined>;
};

export interface ApiOptions {
  readonly rules: RulesApi;
  readonly authorize: Authorize;
  readonly log: Logger;
}

/**
 * The rules' HTTP API: alarms (list, one, acknowledge), actuators, arming a zone, and the trace.
 * Actions go through `authorize`; a refusal says why.
 *
 * - `GET /api/alarms`: the active alarms; `GET /api/alarms/<id>`: one, active or cleared lately
 * - `POST /api/alarms/<id>/ack`, body empty or `{"by": "…", "note": "…"}`
 * - `GET /api/actuators`: commanded and reported state, and how the last command fares
 * - `POST /api/zones/<site>/<zone>/armed`, body `true` / `false` (or `{"armed": true}`)
 * - `GET /api/trace/<id>`: the chain of a reading, command or alarm
 */
export class ApiRoutes {
  constructor(private readonly o: ApiOptions) {}

  /** Exact paths. */
  routes(): ReadonlyMap<string, RouteHandler> {
    return new Map<string, RouteHandler>([
      ['/api/alarms', (req, res) => this.get(req, res, () => ({ alarms: this.o.rules.alarms() }))],
      ['/api/actuators', (req, res) => this.get(req, res, () => ({ actuators: this.o.rules.actuators() }))],
    ]);
  }

  /** Paths with an id in them, and the methods each serves. */
  prefixes(): ReadonlyMap<string, { readonly handler: RouteHandler; readonly methods: Methods }> {
    const handlers: [string, RouteHandler][] = [
      ['/api/alarms/', (req, res) => this.alarm(req, res)],
      ['/api/zones/', (req, res) => this.zone(req, res)],
      ['/api/trace/', (req, res) => this.trace(req, res)],
    ];
    return new Map(handlers.map(([prefix, handler]) => [prefix, { handler, methods: METHODS[prefix]! }]));
  }

  /** A 401 carries the challenge a browser answers by asking for a name and secret. */
  private refuse(res: ServerResponse, refusal: Extract<AuthDecision, { ok: false }>): void {
    if (refusal.status === 401) res.setHeader('www-authenticate', 'Basic realm="iot-gateway", charset="UTF-8"');
    send(res, refusal.status, { error: refusal.why });
  }

  // The methods are the HTTP server's to check (METHODS): a handler serves what it is given.
  private get(_req: IncomingMessage, res: ServerResponse, body: () => unknown): void {
    send(res, 200, body());
  }

  /** The decoded segments (the HTTP server answered 400 for a path that does not decode). */
  private parts(req: IncomingMessage, prefix: string): string[] {
    return segments(new URL(req.url ?? '/', 'http://localhost').pathname, prefix).map(decodeURIComponent);
  }

  private async alarm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [id = '', action, ...rest] = this.parts(req, '/api/alarms/');
    if (!SEGMENT.test(id) || rest.length > 0) return send(res, 404, { error: 'not found' });
    if (action === undefined) {
      const alarm = this.o.rules.alarm(id);
      return alarm ? this.get(req, res, () => ({ alarm })) : send(res, 404, { error: `no alarm ${id} is known` });
    }
    if (action !== 'ack') return send(res, 404, { error: 'not found' });
    const allowed = await this.o.authorize(req, 'alarm.ack');
    if (!allowed.ok) return this.refuse(res, allowed);
    const text = await readBody(req, MAX_BODY);
    if (text === undefined) return tooLarge(res, MAX_BODY);
    // The same body as the MQTT acknowledgement's payload (ingest/control.ts).
    const given = parseAck(Buffer.from(text), MAX_BODY);
    if (!given.ok) return send(res, 400, { error: given.detail });
    const by = given.value.by ? `${given.value.by} (${allowed.who})` : allowed.who;
    const alarm = await this.o.rules.acknowledge({ id: `http-${Date.now()}`, alarmId: id, by, note: given.value.note, clear: given.value.clear === true });
    if (!alarm) return send(res, 404, { error: `no alarm ${id} is known (active, or cleared recently)` });
    send(res, 200, { alarm });
  }

  private async zone(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [site = '', zone = '', what, ...rest] = this.parts(req, '/api/zones/');
    if (what !== 'armed' || rest.length > 0 || !SEGMENT.test(site) || !SEGMENT.test(zone)) return send(res, 404, { error: 'not found: POST /api/zones/<site>/<zone>/armed' });
    const allowed = await this.o.authorize(req, 'zone.arm');
    if (!allowed.ok) return this.refuse(res, allowed);
    const text = await readBody(req, MAX_BODY);
    if (text === undefined) return tooLarge(res, MAX_BODY);
    // The same body as the MQTT zone armed payload (ingest/control.ts).
    const parsed = parseArmed(Buffer.from(text), MAX_BODY);
    if (!parsed.ok) return send(res, 400, { error: parsed.detail });
    const armed = parsed.value;
    const event = this.o.rules.setArmed(site, zone, armed);
    this.o.log.info({ site, zone, armed, by: allowed.who, eventId: event.id }, armed ? 'zone armed over HTTP' : 'zone disarmed over HTTP');
    send(res, 200, { site, zone, armed, id: event.id });
  }

  private async trace(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [id = '', ...rest] = this.parts(req, '/api/trace/');
    if (id === '' || rest.length > 0) return send(res, 404, { error: 'not found: GET /api/trace/<id>' });
    try {
      const trace = await this.o.rules.traceOf(id);
      send(res, trace.found ? 200 : 404, trace);
    } catch (err) {
      send(res, 502, { id, found: false, error: (err as Error).message });
    }
  }
}
