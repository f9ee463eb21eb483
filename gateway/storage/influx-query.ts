import { GatewayError } from '../core/errors.js';
import { influxEndpoint } from './writer.js';

/** One series of an InfluxQL answer: its measurement, its GROUP BY tags, and rows of columns. */
export interface QuerySeries {
  readonly name: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly columns: readonly string[];
  readonly values: readonly (readonly unknown[])[];
}

/** A row as an object keyed by column (and the series' tags). */
export type Row = Readonly<Record<string, unknown>>;

export function rowsOf(series: readonly QuerySeries[]): (Row & { readonly $measurement: string })[] {
  return series.flatMap((s) => s.values.map((v) => ({ ...s.tags, ...Object.fromEntries(s.columns.map((c, i) => [c, v[i]])), $measurement: s.name })));
}

const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|timeout|aborted|fetch failed|does not answer/i;

/** How often a query in flight looks whether the database still answers (`stillUp`). */
const WATCH_EVERY_MS = 250;

/**
 * InfluxQL over InfluxDB's `/query` (1.x, and 2.x's compatibility endpoint with a token): several
 * statements in one request, times as epoch ms. A database that does not exist yet is empty.
 */
export class InfluxQuery {
  readonly description: string;
  private readonly queryUrl: string;
  private readonly headers: Record<string, string>;
  private readonly pingUrl: string;
  private readonly timeoutMs: number;
  private readonly stillUp: (() => boolean) | undefined;

  /**
   * `stillUp`: whether the database answers others (the sink's writes and pings); a query in
   * flight when it turns false is abandoned, rather than held until `timeoutMs` (a hung InfluxDB).
   */
  constructor(
    url: string,
    private readonly database: string,
    options: { readonly token?: string; readonly timeoutMs?: number; readonly stillUp?: () => boolean } = {},
  ) {
    const { base, basicAuth } = influxEndpoint(url);
    this.description = `InfluxDB at ${base}, database ${database}`;
    this.queryUrl = `${base}/query`;
    this.pingUrl = `${base}/ping`;
    this.stillUp = options.stillUp;
    this.headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (options.token) this.headers['authorization'] = `Token ${options.token}`;
    else if (basicAuth) this.headers['authorization'] = basicAuth;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** One list of series per statement, in order. */
  async run(statements: readonly string[]): Promise<QuerySeries[][]> {
    if (statements.length === 0) return [];
    const body = new URLSearchParams({ db: this.database, q: statements.join(';\n'), epoch: 'ms' });
    const watch = this.watch();
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.queryUrl, { method: 'POST', body, headers: this.headers, signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), watch.signal]) });
      text = await response.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      const message = `${this.description}: ${cause?.code ?? (err as Error).message}`;
      throw new GatewayError(UNREACHABLE.test(message) ? 'GW_ERR_INFLUX_UNREACHABLE' : 'GW_ERR_HISTORY', message, { cause: err });
    } finally {
      watch.done();
    }
    let doc: { results?: { statement_id?: number; series?: QuerySeries[]; error?: string }[]; error?: string };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new GatewayError('GW_ERR_HISTORY', `${this.description} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    if (doc.error) {
      if (/database not found/i.test(doc.error)) return statements.map(() => []);
      throw new GatewayError('GW_ERR_HISTORY', `${this.description}: ${doc.error}`);
    }
    const out: QuerySeries[][] = statements.map(() => []);
    for (const [i, r] of (doc.results ?? []).entries()) {
      if (r.error && !/database not found/i.test(r.error)) throw new GatewayError('GW_ERR_HISTORY', `${this.description}: ${r.error} (in: ${statements[r.statement_id ?? i]?.slice(0, 200)})`);
      out[r.statement_id ?? i] = r.series ?? [];
    }
    return out;
  }

  /** Whether the database answers at all (any HTTP answer to `/ping`) within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<boolean> {
    try {
      const res = await fetch(this.pingUrl, { headers: this.headers, signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Aborts when `stillUp` turns false during the query. Not when it is false already: the caller
   * then asked the database itself (the rebuild pings it first), and the timeout bounds the query.
   */
  private watch(): { readonly signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    const stillUp = this.stillUp;
    if (!stillUp?.()) return { signal: controller.signal, done: () => undefined };
    const timer = setInterval(() => {
      if (!stillUp()) controller.abort(new Error('does not answer (it stopped answering the gateway\'s writes and pings during the query)'));
    }, WATCH_EVERY_MS);
    timer.unref();
    return { signal: controller.signal, done: () => clearInterval(timer) };
  }
}
