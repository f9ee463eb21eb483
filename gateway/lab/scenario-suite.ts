import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ScenarioFileError, parseScenarioFile, type Scenario } from './scenario.js';
import { runScenario, type ScenarioResult } from './scenario-run.js';

/** Scenario files live beside the packs, in `<rules dir>/tests/` (the loader does not look there). */
export function testsDirOf(rulesDir: string): string {
  return join(rulesDir, 'tests');
}

export async function scenarioFilesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isFile() && d.name.endsWith('.json'))
      .map((d) => join(dir, d.name))
      .sort();
  } catch {
    return [];
  }
}

/** Reads and checks scenario files; a broken file is a problem naming it, the scenario and the step. */
export async function loadScenarios(paths: readonly string[]): Promise<{ scenarios: Scenario[]; problems: string[] }> {
  const scenarios: Scenario[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    const shown = relative(process.cwd(), path) || path;
    try {
      scenarios.push(...parseScenarioFile(shown, await readFile(path, 'utf8')));
    } catch (err) {
      problems.push(err instanceof ScenarioFileError ? [`${err.file}:`, ...err.problems.map((p) => `  ${p}`)].join('\n') : `${shown}: ${(err as Error).message}`);
    }
  }
  return { scenarios, problems };
}

export async function runScenarios(scenarios: readonly Scenario[], o: { rulesDir: string; log?: Logger; onResult?: (r: ScenarioResult) => void }): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const s of scenarios) {
    const r = await runScenario(s, o);
    o.onResult?.(r);
    results.push(r);
  }
  return results;
}

/**
 * Scenarios naming packs that are not in the rules directory: one problem per scenario file,
 * saying where packs are looked up, and `--rules` for the directory the file's `tests/` is in
 * when that holds them (a scenario file run from another pack directory without `--rules`).
 * They would each fail alike with "no such rule file"; the others are returned to run.
 */
export async function packsNotFound(scenarios: readonly Scenario[], rulesDir: string, shownDir: string, present: ReadonlySet<string>): Promise<{ placed: Scenario[]; problems: string[] }> {
  const placed: Scenario[] = [];
  const missing = new Map<string, Set<string>>();
  for (const s of scenarios) {
    const absent = (s.packs ?? []).filter((p) => !present.has(p));
    if (absent.length === 0) placed.push(s);
    else missing.set(s.file, new Set([...(missing.get(s.file) ?? []), ...absent]));
  }
  const problems: string[] = [];
  for (const [file, absent] of missing) {
    const names = [...absent];
    const home = dirname(dirname(resolve(file)));
    const there = home !== resolve(rulesDir) && (await Promise.all(names.map((n) => stat(join(home, n)).then((st) => st.isFile(), () => false)))).every(Boolean);
    const shownHome = relative(process.cwd(), home) || '.';
    problems.push(
      `${file}: no pack ${names.join(', ')} in ${shownDir} (packs are looked up in --rules DIR, default RULES_DIR, else rules/)${there ? `: ${shownHome} holds ${names.length > 1 ? 'them' : 'it'}, so try --rules ${shownHome}` : ''}`,
    );
  }
  return { placed, problems };
}
