/**
 * `npm run rules:replay -- --from <time> [--to <time>] [options]`: replays the readings stored
 * in InfluxDB over a time range through the rule packs, as a dry run (nothing is published or
 * written), and lists what the rules would have fired. This is how to try a new rule on last
 * week's data: `npm run rules:replay -- --from 7d --rules my-rules/`.
 */
import { err, out, printable } from './terminal.js';
import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { GatewayError } from '../core/errors.js';
import { DURATION_HINT, parseDurationMs } from '../rules/duration.js';
import { replay, type ReplayFiring } from '../lab/replay.js';
import { defaultInfluxUrl } from './gateway-api.js';
import { DEVICES_DEFAULT, useMapKinds } from './map-kinds.js';

const now = Date.now();
/** An ISO-8601 time, or a duration meaning that long ago ("7d", "90m"). */
function time(text: string): number {
  const ago = parseDurationMs(text);
  if (ago !== undefined) return now - ago;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`must be an ISO-8601 time ("2026-01-05T00:00:00Z") or how long ago (${DURATION_HINT})`);
  return ms;
}
function httpUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) throw new InvalidArgumentError('must be an http:// or https:// URL such as http://127.0.0.1:8086');
  return text;
}
function duration(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`must be ${DURATION_HINT}`);
  return ms;
}

/** INFLUX_URL, else the embedded InfluxDB of the gateway on DATA_DIR (gateway-api.ts). */
const influxDefault = defaultInfluxUrl();

// Defaults in --help as a person writes them ("now", "15m"), not as the numbers they parse to.
const program = new Command('rules:replay')
  .description('Replay stored readings through the rule packs (a dry run) and list what would have fired.')
  .requiredOption('--from <time>', 'start: ISO-8601 time, or how long ago ("7d")', time)
  .addOption(new Option('--to <time>', 'end (excluded): ISO-8601 time, or how long ago').argParser(time).default(now, 'now'))
  .addOption(new Option('--rules <dir>', 'the rule packs to try').default(process.env['RULES_DIR'] ?? 'rules', process.env['RULES_DIR'] ? 'RULES_DIR' : 'rules'))
  .option('--devices <file>', 'the device map whose kinds: the packs may use and the replay reads (DEVICES_FILE)', DEVICES_DEFAULT)
  .option('--packs <files>', 'only these packs of the rules directory, comma-separated (e.g. hvac.json,security.json)')
  .addOption(new Option('--influx <url>', 'InfluxDB 1.x').argParser(httpUrl).default(influxDefault, process.env['INFLUX_URL'] ? 'INFLUX_URL' : `${influxDefault}: DATA_DIR's embedded InfluxDB, else EMBEDDED_INFLUX_PORT`))
  .addOption(new Option('--db <name>', 'database').default(process.env['INFLUX_DB'] ?? 'iot', process.env['INFLUX_DB'] ? 'INFLUX_DB' : 'iot'))
  .option('--site <site>', 'only readings of this site')
  .option('--zone <zone>', 'only readings of this zone')
  .addOption(new Option('--warmup <duration>', 'replay this much before --from first, to fill windows and state (its firings are not listed)').argParser(duration).default(0, 'none'))
  .addOption(new Option('--chunk <duration>', 'time covered by one InfluxDB query').argParser(duration).default(15 * 60_000, '15m'))
  .option('--json', 'print the result as JSON')
  .addHelpText('after', '\nTimes: an ISO-8601 time ("2026-01-05T08:00:00Z", "2026-01-05T08:00:00+01:00") or how long ago ("90m", "7d"). Firings are listed with their ISO-8601 times.')
  .showHelpAfterError();
program.parse();
const o = program.opts<{ from: number; to: number; rules: string; devices: string; packs?: string; influx: string; db: string; site?: string; zone?: string; warmup: number; chunk: number; json?: boolean }>();

const mapKinds = await useMapKinds(o.devices);
if (mapKinds.problem) err(`the device map's kinds are not known to the packs: ${mapKinds.problem}`);

// One line, whatever the stored reading's id holds (terminal.ts).
const line = (f: ReplayFiring) => printable(`${f.time}  ${f.type.padEnd(7)}  ${f.topic}  ${JSON.stringify(f.data)}  by ${f.rule}  ← ${f.correlationId}`);
const bar = process.stderr.isTTY && !o.json ? new SingleBar({ format: 'replaying {bar} {percentage}% | {at} | {readings} readings, {firings} firings', hideCursor: true, stream: process.stderr }) : undefined;
bar?.start(o.to - o.from, 0, { at: new Date(o.from).toISOString(), readings: 0, firings: 0 });
let lastNote = Date.now();
try {
  const summary = await replay({
    influxUrl: o.influx,
    database: o.db,
    fromMs: o.from,
    toMs: o.to,
    warmupMs: o.warmup,
    chunkMs: o.chunk,
    rulesDir: resolve(o.rules),
    ruleFiles: o.packs?.split(',').map((f) => f.trim()),
    site: o.site,
    zone: o.zone,
    onFiring: (f) => {
      if (o.json) return;
      // Over the progress bar's line when both are on the terminal; it redraws on the next update.
      if (bar && process.stdout.isTTY) process.stdout.write(`\r\x1b[K${line(f)}\n`);
      else out(line(f));
    },
    onProgress: (p) => {
      bar?.update(Math.max(0, p.atMs - o.from), { at: new Date(p.atMs).toISOString(), readings: p.readings, firings: p.firings });
      // Without a terminal (a log, CI), a line every 10 s shows it is alive on a long range.
      if (!bar && !o.json && Date.now() - lastNote > 10_000) {
        lastNote = Date.now();
        err(`… ${new Date(p.atMs).toISOString()} (${Math.round(((p.atMs - o.from) / (o.to - o.from)) * 100)}%): ${p.readings} readings, ${p.firings} firings`);
      }
    },
  });
  bar?.stop();
  if (o.json) {
    out(JSON.stringify({ from: new Date(summary.fromMs).toISOString(), to: new Date(summary.toMs).toISOString(), readings: summary.readings, byRule: summary.byRule, firings: summary.firings }, null, 2));
  } else {
    const rules = Object.entries(summary.byRule).sort((a, b) => b[1] - a[1]);
    out(`\n${summary.readings} readings from ${new Date(summary.fromMs).toISOString()} to ${new Date(summary.toMs).toISOString()} (dry run: nothing was published or stored)`);
    out(rules.length === 0 ? 'nothing would have fired' : `would have fired ${summary.firings.length} time(s): ${rules.map(([r, n]) => `${r} ×${n}`).join(', ')}`);
  }
} catch (failure) {
  bar?.stop();
  // Whatever stopped it (InfluxDB refusing a query, say) is GW_ERR_REPLAY, as the README lists it; a broken pack is its file's problem.
  const message = failure instanceof GatewayError ? failure.message : `replay failed: ${(failure as Error).message}`;
  err(failure instanceof GatewayError && (failure.code === 'GW_ERR_REPLAY' || failure.code === 'GW_ERR_RULE_FILE') ? message : `GW_ERR_REPLAY: ${message}`);
  process.exit(1);
}
