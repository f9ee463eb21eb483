/**
 * `npm run trace -- <id>`: the chain of a reading, a command or an alarm — the reading, the rule
 * firings with the facts that decided them, the commands and notifications, confirmations,
 * retries and alarms, with times and the gap between each step. Asks the running gateway
 * (`GET /api/trace/<id>`: recent chains from its memory, older ones from InfluxDB); when no
 * gateway answers, reads InfluxDB itself.
 */
import { Command, InvalidArgumentError } from 'commander';
import { GatewayError } from '../core/errors.js';
import { traceOf, type Trace } from '../rules/trace.js';
import { InfluxHistory } from '../storage/history.js';
import { authorization, defaultInfluxUrl, refusedHint } from './gateway-api.js';
import { err, out } from './terminal.js';
import { formatTrace } from './trace-format.js';

function url(text: string): string {
  try {
    return new URL(text).toString().replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError(`must be a URL such as http://127.0.0.1:8080 (got ${JSON.stringify(text)})`);
  }
}

const program = new Command('trace')
  .description('Show the chain of a reading, command or alarm: reading → rule firings (with the facts that decided them) → commands → confirmations, retries, alarms.')
  .argument('<id>', "a reading's id, a command's id or an alarm's id")
  .option('--url <url>', 'the gateway (its HTTP port)', url, `http://127.0.0.1:${process.env['HTTP_PORT'] ?? 8080}`)
  .option('--influx <url>', "InfluxDB 1.x, read directly when no gateway answers (default: INFLUX_URL, else DATA_DIR's embedded one)", url, defaultInfluxUrl())
  .option('--db <name>', 'database (default: INFLUX_DB)', process.env['INFLUX_DB'] ?? 'iot')
  .option('--json', 'print the chain as JSON')
  .showHelpAfterError();
program.parse();
const [id = ''] = program.args;
const o = program.opts<{ url: string; influx: string; db: string; json?: boolean }>();

/** From the gateway; undefined when none answers. */
async function fromGateway(): Promise<Trace | undefined> {
  let response: Response;
  try {
    response = await fetch(`${o.url}/api/trace/${encodeURIComponent(id)}`, { headers: authorization(), signal: AbortSignal.timeout(10_000) });
  } catch {
    return undefined;
  }
  if (response.status === 200 || response.status === 404) return (await response.json()) as Trace;
  if (response.status === 401 || response.status === 403) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new GatewayError('GW_ERR_AUTH', refusedHint(response.status, body.error, 'observer'));
  }
  throw new GatewayError('GW_ERR_HISTORY', `${o.url} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
}

try {
  let trace = await fromGateway();
  if (!trace) {
    err(`no gateway answers at ${o.url}: reading ${o.influx}, database ${o.db}`);
    trace = await traceOf(id, undefined, new InfluxHistory({ url: o.influx, database: o.db }));
  }
  out(o.json ? JSON.stringify(trace, null, 2) : formatTrace(trace));
  if (!trace.found) process.exitCode = 1;
} catch (failure) {
  err(failure instanceof GatewayError ? failure.message : `trace failed: ${(failure as Error).message}`);
  process.exit(1);
}
