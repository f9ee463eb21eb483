/** What the command-line tools ask of a running gateway over HTTP (HTTP_PORT, or --url). */
import { InvalidArgumentError } from 'commander';
import type { ActuatorForm } from '../devices/map.js';
import type { DeviceView } from '../devices/registry.js';
import { keptTimeProblem } from '../core/archive.js';
import { DURATION_HINT, parseDurationMs } from '../rules/duration.js';
import { loadSettings } from '../config/settings.js';
import { runningEmbeddedUrl } from '../storage/influxd-pidfile.js';

export const DEFAULT_URL = process.env['GATEWAY_URL'] ?? `http://127.0.0.1:${process.env['HTTP_PORT'] ?? 8080}`;

/** An ISO-8601 time, epoch ms, or a duration meaning that long ago ("7d", "90m"). */
export function timeArg(text: string): number {
  const ago = parseDurationMs(text);
  if (ago !== undefined) return Date.now() - ago;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`must be an ISO-8601 time ("2026-11-01T00:00:00Z"), epoch ms, or how long ago (${DURATION_HINT})`);
  // Said here, before InfluxDB (or the gateway) answers with "overflowed duration".
  const problem = keptTimeProblem(ms, 'the time');
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return ms;
}

/** What to set when the gateway answers 401; `role`: the least a tool needs (reading: observer; acting: admin). */
export function credentialsHint(role: 'observer' | 'admin' = 'admin'): string {
  const which = role === 'admin' ? 'an admin credential' : 'an observer or admin credential';
  return `the gateway asks for credentials: set GATEWAY_USERNAME and GATEWAY_PASSWORD (${which}, \`npm run credentials -- add <name> --role ${role}\`)`;
}

/** The gateway refused the tool (401, 403): a tool says so and exits non-zero, whatever else it could show. */
export class GatewayRefused extends Error {
  override readonly name = 'GatewayRefused';
}

/**
 * What to say when the gateway answers 401 or 403 (`why`: its own words): with GATEWAY_USERNAME
 * set, that this credential was refused (a wrong secret is not a missing one); else what to set.
 */
export function refusedHint(status: 401 | 403, why: string | undefined, role: 'observer' | 'admin'): string {
  const user = process.env['GATEWAY_USERNAME'];
  const which = role === 'admin' ? 'an admin credential' : 'an observer or admin credential';
  if (status === 401 && !user) return credentialsHint(role);
  const said = `${status}${why ? `: ${why}` : ''}`;
  if (!user) return `the gateway refused (${said}); ${which} is needed`;
  if (status === 401) return `the gateway refused GATEWAY_USERNAME=${user} (${said}): check GATEWAY_PASSWORD, or that the credential exists (npm run credentials -- list)`;
  return `the gateway refused GATEWAY_USERNAME=${user} (${said}): ${which} is needed (\`npm run credentials -- add <name> --role ${role}\`)`;
}

/**
 * The InfluxDB a tool reads when not told: INFLUX_URL; else the embedded one the gateway on
 * DATA_DIR runs (its pid file says where, even on a port EMBEDDED_INFLUX_PORT=0 picked); else
 * 127.0.0.1 at EMBEDDED_INFLUX_PORT (8086), where the gateway would start it.
 */
export function defaultInfluxUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env['INFLUX_URL']) return env['INFLUX_URL'];
  // Settings another tool would refuse (an unrelated bad one) leave the defaults: the tool says what it could not reach.
  const { dataDir, embeddedInfluxPort } = (() => {
    try {
      return loadSettings(env);
    } catch {
      return loadSettings({});
    }
  })();
  return runningEmbeddedUrl(dataDir) ?? `http://127.0.0.1:${embeddedInfluxPort > 0 ? embeddedInfluxPort : 8086}`;
}

/** HTTP asks for credentials once any exist (HTTP_AUTH): the tools send an admin's from the environment. */
export function authorization(): Record<string, string> {
  const user = process.env['GATEWAY_USERNAME'];
  if (!user) return {};
  return { authorization: `Basic ${Buffer.from(`${user}:${process.env['GATEWAY_PASSWORD'] ?? ''}`).toString('base64')}` };
}

async function call(url: string, role: 'observer' | 'admin', init?: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), ...authorization() }, signal: AbortSignal.timeout(10 * 60_000) });
  } catch (err) {
    throw new Error(`the gateway does not answer at ${new URL(url).origin} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}): is it running? (--url, or HTTP_PORT)`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (res.status === 401 || res.status === 403) throw new GatewayRefused(refusedHint(res.status, body.error, role));
  if (!res.ok) throw new Error(`the gateway answered ${res.status}: ${body.error ?? ''}`);
  return body;
}

/**
 * Every page of `GET /api/devices` (`?limit=&after=`, at most 1,000 devices a page), each device
 * made what the tool needs by `keep` as it comes; the first page's other fields (map, actuators,
 * unanswered). An older gateway answers all at once, without `next`.
 */
export async function getDevices<D>(base: string, keep: (d: DeviceView & { heardBy?: string[] }) => D, o: { unassigned?: boolean } = {}): Promise<{ devices: D[]; first: { unanswered?: string[]; actuators?: { target: string; form: ActuatorForm }[] } }> {
  const devices: D[] = [];
  let first: Record<string, unknown> | undefined;
  let after: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ limit: '1000', ...(o.unassigned ? { status: 'unassigned' } : {}), ...(after === undefined ? {} : { after }) });
    const page = (await call(`${base}/api/devices?${q.toString()}`, 'observer')) as { devices?: DeviceView[]; next?: unknown };
    first ??= page;
    for (const d of page.devices ?? []) devices.push(keep(d));
    // A next that does not move on would never end.
    if (typeof page.next !== 'string' || page.next === after) return { devices, first };
    after = page.next;
  }
}

export interface RedriveAsk {
  readonly reason: string;
  readonly since: number;
  readonly until?: number;
  readonly device?: string;
}

export function redrive(base: string, ask: RedriveAsk): Promise<unknown> {
  return call(`${base}/api/deadletters/redrive`, 'admin', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask) });
}

/** A redrive summary for people. */
export function describeRedrive(s: { read: number; redriven: number; alreadyStored?: number; nothingToStore?: number; stillFailing: Record<string, number>; skipped: Record<string, number>; reason: string; since: string }): string {
  const failing = Object.entries(s.stillFailing).map(([r, n]) => `${n} ${r}`).join(', ');
  const skipped = Object.entries(s.skipped).map(([r, n]) => `${n} ${r}`).join(', ');
  // An older gateway's summary has no alreadyStored.
  const known = s.alreadyStored ? `; ${s.alreadyStored} already stored (redriven before: nothing written again)` : '';
  const nothing = s.nothingToStore ? `; ${s.nothingToStore} with nothing to store now (no reading in them the device map keeps)` : '';
  return `${s.read} dead letters (${s.reason}) since ${s.since}: ${s.redriven} redriven into readings at their original times${known}${nothing}${failing ? `; still failing: ${failing}` : ''}${skipped ? `; skipped: ${skipped}` : ''}`;
}
