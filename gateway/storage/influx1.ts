import { InfluxDB, type ISingleHostConfig } from 'influx';
import { HttpPoster, type PostAnswer } from './http-post.js';
import { WriteError, classifyStatus, influxEndpoint, type PointWriter, type Precision } from './writer.js';

/**
 * The `influx` client (1.x API) for a URL, with `user:pass@` credentials if the URL has them.
 * `timeoutMs`: each request's, without retries (its own default: 30 s, tried three times).
 */
export function influxClient(url: string, database: string, timeoutMs?: number): InfluxDB {
  const parsed = new URL(url);
  const config: ISingleHostConfig = {
    host: parsed.hostname,
    port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)),
    protocol: parsed.protocol === 'https:' ? 'https' : 'http',
    database,
  };
  if (parsed.pathname !== '/') config.path = parsed.pathname;
  if (timeoutMs !== undefined) config.pool = { requestTimeout: timeoutMs, maxRetries: 0 };
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
  private readonly poster: HttpPoster;

  constructor(
    url: string,
    private readonly database: string,
    private readonly timeoutMs: number,
  ) {
    const { base, basicAuth } = influxEndpoint(url);
    this.description = `InfluxDB 1.x at ${base}, database ${database}`;
    // Bounded like a write: the start awaits CREATE DATABASE, and a hung InfluxDB must not hold it for minutes.
    this.admin = influxClient(url, database, timeoutMs);
    const write = `${base}/write?db=${encodeURIComponent(database)}&precision=`;
    this.writeUrl = { ns: `${write}ns`, ms: `${write}ms` };
    this.headers = { 'content-type': 'text/plain; charset=utf-8' };
    if (basicAuth) this.headers['authorization'] = basicAuth;
    this.poster = new HttpPoster(base);
  }

  async prepare(): Promise<void> {
    // CREATE DATABASE is idempotent in 1.x.
    await this.admin.createDatabase(this.database);
  }

  async write(body: Buffer, precision: Precision = 'ns', signal?: AbortSignal): Promise<void> {
    let answer: PostAnswer;
    try {
      answer = await this.poster.post(this.writeUrl[precision], body, this.headers, this.timeoutMs, signal);
    } catch (err) {
      throw new WriteError('retryable', `InfluxDB unreachable: ${(err as { code?: string }).code ?? (err as Error).message}`, undefined, { cause: err });
    }
    if (answer.status === 204 || answer.status === 200) return;
    throw new WriteError(classifyStatus(answer.status, answer.text), `InfluxDB answered ${answer.status}: ${answer.text.slice(0, 500)}`, answer.status);
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
    // The admin client keeps no state that needs closing.
    this.poster.close();
  }
}
