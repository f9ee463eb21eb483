import { InfluxDB, type ISingleHostConfig } from 'influx';
import { WriteError, classifyStatus, influxEndpoint, type PointWriter, type Precision } from './writer.js';

/** The `influx` client (1.x API) for a URL, with `user:pass@` credentials if the URL has them. */
export function influxClient(url: string, database: string): InfluxDB {
  const parsed = new URL(url);
  const config: ISingleHostConfig = {
    host: parsed.hostname,
    port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)),
    protocol: parsed.protocol === 'https:' ? 'https' : 'http',
    database,
  };
  if (parsed.pathname !== '/') config.path = parsed.pathname;
  if (parsed.username) Object.assign(config, { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) });
  return new InfluxDB(config);
}

/**
 * InfluxDB 1.x. The `influx` client creates the database and pings; writes post the
 * pre-built line protocol from the spool to `/write` as it is, because `writePoints` would
 * serialise every point again from objects.
 */
export class Influx1Writer implements PointWriter {
  readonly description: string;
  private readonly admin: InfluxDB;
  private readonly writeUrl: Record<Precision, string>;
  private readonly headers: Record<string, string>;

  constructor(
    url: string,
    private readonly database: string,
    private readonly timeoutMs: number,
  ) {
    const { base, basicAuth } = influxEndpoint(url);
    this.description = `InfluxDB 1.x at ${base}, database ${database}`;
    this.admin = influxClient(url, database);
    const write = `${base}/write?db=${encodeURIComponent(database)}&precision=`;
    this.writeUrl = { ns: `${write}ns`, ms: `${write}ms` };
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (basicAuth) this.headers['authorization'] = basicAuth;
  }

  async prepare(): Promise<void> {
    // CREATE DATABASE is idempotent in 1.x.
    await this.admin.createDatabase(this.database);
  }

  async write(body: Buffer, precision: Precision = 'ns'): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.writeUrl[precision], { method: 'POST', body, headers: this.headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      throw new WriteError('retryable', `InfluxDB unreachable: ${cause?.code ?? (err as Error).message}`, undefined, { cause: err });
    }
    if (response.status === 204 || response.status === 200) {
      await response.body?.cancel();
      return;
    }
    const text = await response.text().catch(() => '');
    throw new WriteError(classifyStatus(response.status, text), `InfluxDB answered ${response.status}: ${text.slice(0, 500)}`, response.status);
  }

  async ping(): Promise<boolean> {
    try {
      const hosts = await this.admin.ping(Math.min(this.timeoutMs, 2000));
      return hosts.some((h) => h.online);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    // fetch keeps no state that needs closing; the admin client neither.
  }
}
