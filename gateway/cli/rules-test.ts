/**
 * `npm run rules:test [-- [scenario files…] [--rules DIR] [--grep TEXT] [--json]]`: runs the
 * rule scenarios (default: every file in `<rules dir>/tests/`) against the packs of the rules
 * directory (default RULES_DIR, else rules/) on a simulated clock, and prints, for each one
 * that fails, what was expected against what happened. Exit 1 when one fails.
 */
import { err, out, outStyled } from './terminal.js';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { RuleFileError, parsePack, type RulePack } from '../rules/pack.js';
import { judgePackSet } from '../rules/clashes.js';
import { unsetFieldReads } from '../rules/actuator-fields.js';
import { deadFactLiterals } from '../rules/fact-literals.js';
import { listRuleFiles } from '../rules/rule-dir.js';
import { formatResult, formatSummary } from '../lab/scenario-report.js';
import { describeWhy } from '../lab/why-format.js';
import { loadScenarios, packsNotFound, runScenarios, scenarioFilesIn, testsDirOf } from '../lab/scenario-suite.js';
import { DEVICES_DEFAULT, useMapKinds } from './map-kinds.js';

const program = new Command('rules:test')
  .description('Run the rule scenarios: simulated readings against the rule packs, expected commands and alerts against actual ones.')
  .argument('[files...]', 'scenario files (default: every *.json in <rules>/tests/)')
  .option('--rules <dir>', 'the rule packs', process.env['RULES_DIR'] ?? 'rules')
  .option('--devices <file>', 'the device map whose kinds: the packs may use (DEVICES_FILE)', DEVICES_DEFAULT)
  .option('--grep <text>', 'only scenarios whose name contains this')
  .option('--json', 'print the results as JSON')
  .showHelpAfterError();
program.parse();
const opts = program.opts<{ rules: string; devices: string; grep?: string; json?: boolean }>();
const mapKinds = await useMapKinds(opts.devices);
if (mapKinds.problem) err(`the device map's kinds are not known to the packs: ${mapKinds.problem}`);
const rulesDir = resolve(opts.rules);
const files = program.args.length > 0 ? program.args.map((f) => resolve(f)) : await scenarioFilesIn(testsDirOf(rulesDir));
if (files.length === 0) {
  err(`no scenario files in ${testsDirOf(opts.rules)} (and none given)`);
  process.exit(1);
}
// A broken pack fails every scenario alike: say so once, before running any.
const packs = (await readdir(rulesDir).catch(() => [])).filter((f) => f.endsWith('.json'));
const broken: string[] = [];
const parsed = new Map<string, RulePack>();
for (const f of packs) {
  const shown = relative(process.cwd(), join(rulesDir, f)) || f;
  try {
    parsed.set(f, parsePack(shown, await readFile(join(rulesDir, f), 'utf8')));
  } catch (err) {
    broken.push(...(err instanceof RuleFileError ? err.problems.map((p) => `${err.file}: ${p}`) : [`${shown}: ${(err as Error).message}`]));
  }
}
// What the gateway judges across files (a name in two packs, actuator names), as it would on this directory.
for (const [f, problems] of judgePackSet(new Map(), parsed)) broken.push(...problems.map((p) => `${parsed.get(f)!.file}: ${p}`));
if (broken.length > 0) {
  for (const b of broken) err(`✗ ${b}`);
  err(`\n${broken.length} problem(s) in the rule packs of ${opts.rules}: fix them first (GW_ERR_RULE_FILE)`);
  process.exit(1);
}
// What loads but likely does not work, as the gateway warns of it.
for (const name of (await listRuleFiles(rulesDir)).notRead ?? []) err(`! ${join(opts.rules, name)}: not read: only .json files are rule packs`);
for (const w of [...unsetFieldReads([...parsed.values()]), ...deadFactLiterals([...parsed.values()])]) err(`! ${w}`);
const loaded = await loadScenarios(files);
const { problems } = loaded;
for (const p of problems) err(`✗ ${p}`);
if (problems.length > 0) err(`${problems.length} scenario file(s) broken (GW_ERR_SCENARIO_FILE); their scenarios did not run\n`);
const unplaced = await packsNotFound(loaded.scenarios, rulesDir, opts.rules, new Set(packs));
for (const p of unplaced.problems) err(`✗ ${p}`);
const scenarios = unplaced.placed;
const chosen = opts.grep ? scenarios.filter((s) => s.name.includes(opts.grep!)) : scenarios;
// A mistyped filter would otherwise pass in CI with nothing run.
if (opts.grep !== undefined && chosen.length === 0 && problems.length === 0) {
  err(`no scenario name contains ${JSON.stringify(opts.grep)} (${scenarios.length} scenario(s) in ${files.length} file(s))`);
  process.exit(1);
}
const color = !opts.json && process.stdout.isTTY && !process.env['NO_COLOR'];
const results = await runScenarios(chosen, { rulesDir, onResult: (r) => !opts.json && (color ? outStyled : out)(formatResult(r, color)) });
if (opts.json) {
  out(JSON.stringify(results.map((r) => ({ file: r.scenario.file, scenario: r.scenario.name, passed: r.passed, error: r.error, missing: r.missing.map((m) => ({ ...m, explained: describeWhy(m.expectation, m.why ?? []) })), unexpected: r.unexpected, forbidden: r.forbidden, actual: r.actual, held: r.held, lost: r.lost })), null, 2));
} else {
  out(`\nscenarios: ${formatSummary(results)}${problems.length > 0 ? `, ${problems.length} file(s) broken` : ''}${unplaced.problems.length > 0 ? `, ${unplaced.problems.length} file(s) naming packs not in ${opts.rules}` : ''}`);
}
process.exit(problems.length > 0 || unplaced.problems.length > 0 || results.some((r) => !r.passed) ? 1 : 0);
