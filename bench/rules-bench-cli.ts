/**
 * `npm run bench:rules [-- --readings N --rounds N --influx URL --json]`: readings per second
 * through a real gateway with the 3 shipped packs and with 200 rules, in the same run.
 * Exit 1 when 200 rules bring ingest below half of the shipped packs' rate.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runRulesBench } from './rules-bench.js';

const count = (text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
};
const program = new Command('bench:rules')
  .option('--readings <n>', 'readings timed per run', count, 20_000)
  .option('--rounds <n>', 'runs per rule set (alternating); the median counts', count, 3)
  .option('--rules <n>', 'rules in the large set', count, 200)
  .option('--influx <url>', 'an InfluxDB 1.x to write to (default: start one)')
  .option('--json', 'print the result as JSON')
  .parse();
const o = program.opts<{ readings: number; rounds: number; rules: number; influx?: string; json?: boolean }>();
const result = await runRulesBench({ readings: o.readings, rounds: o.rounds, manyRules: o.rules, influxUrl: o.influx, onProgress: (l) => !o.json && console.error(l) });
const rate = (n: number) => `${Math.round(n).toLocaleString('en')} readings/s`;
if (o.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`rules bench (${result.machine.cpus} cores, Node ${result.machine.node}; median of ${o.rounds} runs of ${o.readings} readings each)`);
  console.log(`  ${String(result.shipped.rules).padStart(3)} rules (shipped packs): ${rate(result.shipped.eventsPerSecond)}`);
  console.log(`  ${String(result.many.rules).padStart(3)} rules:                 ${rate(result.many.eventsPerSecond)}`);
  console.log(`  ratio ${result.ratio.toFixed(2)} (needs ≥ 0.50): ${result.ratio >= 0.5 ? 'ok' : 'TOO SLOW'}`);
}
process.exit(result.ratio >= 0.5 ? 0 : 1);
