/**
 * npm run deadletters -- list [--reason R] [--since T] [--until T] [--device <family>:<id>] [--limit N] [--json]
 * npm run deadletters -- redrive --reason R --since T [--until T] [--device <family>:<id>] [--dry-run] [--url U]
 *
 * `list` reads the kept dead letters from InfluxDB (INFLUX_URL, else DATA_DIR's embedded one),
 * newest first. `redrive` turns them back into readings at their original times, once what made
 * them fail is fixed (a kind added, a device placed, a mapping written): the running gateway
 * reads them back from InfluxDB and feeds them through ingest again. Redriving twice stores
 * nothing twice. `--dry-run` reads the same selection itself and redrives nothing.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { KeptDeadLetter } from '../core/archive.js';
import { GatewayError } from '../core/errors.js';
import { DEAD_LETTER_REASONS } from '../core/events.js';
import { redriveSkip } from '../ingest/redrive.js';
import { DeadLetterList, type DeadLetterFilter } from '../storage/deadletter-list.js';
import { byReason, letterTable, total } from './deadletters-format.js';
import { DEFAULT_URL, defaultInfluxUrl, describeRedrive, redrive, timeArg } from './gateway-api.js';
import { err, out } from './terminal.js';

interface Selection {
  reason?: string;
  since?: number;
  until?: number;
  device?: string;
  limit: number;
  influx: string;
  db: string;
  json?: boolean;
}

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number, 1 or more');
  return n;
}

const filterOf = (o: Selection): DeadLetterFilter => ({
  ...(o.reason === undefined ? {} : { reason: o.reason }),
  ...(o.since === undefined ? {} : { sinceMs: o.since }),
  ...(o.until === undefined ? {} : { untilMs: o.until }),
  ...(o.device === undefined ? {} : { device: o.device }),
});

/** The options `list` and `redrive --dry-run` share: the selection (as redrive takes it) and where InfluxDB is. */
function selecting(cmd: Command): Command {
  return cmd
    .option('--until <time>', 'until (excluded; default now)', timeArg)
    .option('--device <family:id>', 'only the dead letters of this native device (their detail names it)')
    .option('--limit <n>', 'show at most this many (newest first for list)', count, 50)
    .option('--influx <url>', 'InfluxDB 1.x to read (default: INFLUX_URL, else the embedded one of DATA_DIR)', defaultInfluxUrl())
    .option('--db <name>', 'database (default: INFLUX_DB)', process.env['INFLUX_DB'] ?? 'iot')
    .option('--json', 'print JSON');
}

const program = new Command().name('npm run deadletters --').description('Kept dead letters (InfluxDB measurement deadletters): list them, or feed them through the running gateway again.');

selecting(program.command('list').description('the kept dead letters, newest first, and how many there are by reason'))
  .addOption(new Option('--reason <reason>', 'only the dead letters of this reason').choices(DEAD_LETTER_REASONS))
  .option('--since <time>', 'from: ISO-8601, epoch ms, or how long ago ("7d"); default: all', timeArg)
  .action(async (o: Selection) => {
    const store = new DeadLetterList(o.influx, o.db);
    const filter = filterOf(o);
    const [letters, counts] = await Promise.all([store.read(filter, { limit: o.limit }), store.countByReason(filter)]);
    if (o.json) return out(JSON.stringify({ total: total(counts), byReason: counts, letters: letters.map(forJson) }));
    if (letters.length === 0) return out(`no dead letters${o.reason ? ` (${o.reason})` : ''} in ${store.description}`);
    out(letterTable(letters));
    out(`\n${total(counts)} dead letters${letters.length < total(counts) ? ` (the newest ${letters.length} shown; --limit)` : ''}: ${byReason(counts)}`);
  });

selecting(program.command('redrive').description('turn the dead letters of one reason, kept since a time, into readings at their original times (exactly once)'))
  // Not checked here: the gateway answers an unknown reason with the list of reasons.
  .requiredOption('--reason <reason>', 'the dead-letter reason: unassigned_device, unknown_kind, unknown_topic, invalid_payload, …')
  .requiredOption('--since <time>', 'from: ISO-8601, epoch ms, or how long ago ("7d")', timeArg)
  .option('--url <url>', 'the gateway’s HTTP address', DEFAULT_URL)
  .option('--dry-run', 'list what would be redriven (read from InfluxDB: --influx, --db) and redrive nothing')
  .action(async (o: Selection & { reason: string; since: number; url: string; dryRun?: boolean }) => {
    if (o.dryRun) return dryRun(o);
    const summary = (await redrive(o.url, { reason: o.reason, since: o.since, ...(o.until === undefined ? {} : { until: o.until }), ...(o.device ? { device: o.device } : {}) })) as Parameters<typeof describeRedrive>[0];
    out(o.json ? JSON.stringify(summary) : describeRedrive(summary));
  });

const forJson = (dl: KeptDeadLetter): Record<string, unknown> => ({ time: new Date(dl.timeMs).toISOString(), ...dl });

/** The letters a redrive would take, oldest first as it takes them, each with what it would do. */
async function dryRun(o: Selection & { reason: string; since: number }): Promise<void> {
  if (!(DEAD_LETTER_REASONS as readonly string[]).includes(o.reason)) throw new Error(`reason must be a dead-letter reason: ${DEAD_LETTER_REASONS.join(', ')}; got ${JSON.stringify(o.reason)}`);
  const store = new DeadLetterList(o.influx, o.db);
  const until = o.until ?? Date.now() + 1;
  // As the gateway refuses it: until is excluded, so this would select nothing.
  if (until <= o.since) throw new Error(`--until must be after --since (got ${new Date(o.since).toISOString()} to ${new Date(until).toISOString()})`);
  const shown: (KeptDeadLetter & { skip?: string })[] = [];
  const skipped: Record<string, number> = {};
  let read = 0;
  for (let offset = 0; ; offset += 1000) {
    // Every letter of the reason, as the redrive reads them: another device's is a skip it counts.
    const page = await store.read(filterOf({ ...o, until, device: undefined }), { limit: 1000, offset, newestFirst: false });
    for (const dl of page) {
      read++;
      const skip = redriveSkip(dl, o.device);
      if (skip !== undefined) skipped[skip] = (skipped[skip] ?? 0) + 1;
      if (shown.length < o.limit) shown.push(skip === undefined ? dl : { ...dl, skip });
    }
    if (page.length < 1000) break;
  }
  const wouldRedrive = read - total(skipped);
  const since = new Date(o.since).toISOString();
  if (o.json) return out(JSON.stringify({ dryRun: true, reason: o.reason, since, until: new Date(until).toISOString(), read, wouldRedrive, skipped, letters: shown.map(forJson) }));
  if (shown.length > 0) out(`${letterTable(shown, { title: 'would', of: (dl) => (dl.skip ? `skip (${dl.skip})` : 'redrive') })}\n`);
  const skips = byReason(skipped);
  out(
    `dry run: ${read} dead letters (${o.reason}) since ${since}${shown.length < read ? ` (the oldest ${shown.length} shown; --limit)` : ''}: ${wouldRedrive} would be fed through ingest again${skips ? `; would skip ${skips}` : ''}; nothing redriven (whether each becomes a reading now is known only when redriven)`,
  );
}

program.parseAsync().catch((failure: unknown) => {
  const message = failure instanceof Error ? failure.message : String(failure);
  const unreachable = failure instanceof GatewayError && failure.code === 'GW_ERR_INFLUX_UNREACHABLE';
  // Without INFLUX_URL the tool looks for the gateway's embedded InfluxDB, which runs only while the gateway does.
  const hint = process.env['INFLUX_URL'] || process.argv.some((a) => a.startsWith('--influx')) ? ': is InfluxDB running there? (--influx, or INFLUX_URL)' : ": is InfluxDB running there? Without INFLUX_URL this is the gateway's embedded InfluxDB, which runs only while the gateway does (npm start); else give --influx or INFLUX_URL";
  err(`deadletters: ${message}${unreachable ? hint : ''}`);
  process.exitCode = 1;
});
