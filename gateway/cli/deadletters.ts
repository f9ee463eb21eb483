/**
 * npm run deadletters -- redrive --reason R --since T [--until T] [--device <family>:<id>] [--url U]
 *
 * Turns kept dead letters back into readings at their original times, once what made them fail is
 * fixed (a kind added, a device placed, a mapping written): the running gateway reads them back
 * from InfluxDB and feeds them through ingest again. Redriving twice stores nothing twice.
 */
import { Command } from 'commander';
import { DEFAULT_URL, describeRedrive, redrive, timeArg } from './gateway-api.js';
import { out } from './terminal.js';

const program = new Command().name('npm run deadletters --').description('Kept dead letters (InfluxDB measurement deadletters), fed through the running gateway again.');

program
  .command('redrive')
  .description('turn the dead letters of one reason, kept since a time, into readings at their original times (exactly once)')
  .requiredOption('--reason <reason>', 'the dead-letter reason: unassigned_device, unknown_kind, unknown_topic, invalid_payload, …')
  .requiredOption('--since <time>', 'from: ISO-8601, epoch ms, or how long ago ("7d")', timeArg)
  .option('--until <time>', 'until (excluded; default now)', timeArg)
  .option('--device <family:id>', 'only the dead letters of this native device')
  .option('--url <url>', 'the gateway’s HTTP address', DEFAULT_URL)
  .option('--json', 'print the summary as JSON')
  .action(async (o: { reason: string; since: number; until?: number; device?: string; url: string; json?: boolean }) => {
    const summary = (await redrive(o.url, { reason: o.reason, since: o.since, ...(o.until === undefined ? {} : { until: o.until }), ...(o.device ? { device: o.device } : {}) })) as Parameters<typeof describeRedrive>[0];
    out(o.json ? JSON.stringify(summary) : describeRedrive(summary));
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`deadletters: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
