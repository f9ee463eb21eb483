import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
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
