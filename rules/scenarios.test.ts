/** Every rule scenario in rules/tests/ runs in `npm test` too, one test each, failing with the runner's diff. */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatResult } from '../gateway/lab/scenario-report.js';
import { runScenario } from '../gateway/lab/scenario-run.js';
import { loadScenarios, scenarioFilesIn, testsDirOf } from '../gateway/lab/scenario-suite.js';

const rulesDir = resolve(import.meta.dirname);
const { scenarios, problems } = await loadScenarios(await scenarioFilesIn(testsDirOf(rulesDir)));

describe('rule scenarios', () => {
  it('the scenario files are valid, and there are scenarios for every shipped pack', () => {
    expect(problems).toEqual([]);
    const packs = new Set(scenarios.flatMap((s) => s.packs ?? []));
    expect([...packs].sort()).toEqual(['hvac.json', 'lighting.json', 'security.json']);
    expect(scenarios.length).toBeGreaterThanOrEqual(15);
  });

  for (const scenario of scenarios) {
    it(`${scenario.file} › ${scenario.name}`, async () => {
      const result = await runScenario(scenario, { rulesDir });
      if (!result.passed) throw new Error(`\n${formatResult(result)}`);
      expect(result.missing).toEqual([]);
    });
  }
});
