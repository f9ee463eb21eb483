import { describe, expect, it } from 'vitest';
import { parseScenarioFile, ScenarioFileError } from '../../../gateway/lab/scenario.js';

const file = (at: string, until?: string): string =>
  JSON.stringify({ packs: ['hvac.json'], scenarios: [{ name: 'far', steps: [{ at, publish: 'sensors/hq/f1/t1/temperature', value: 31 }], ...(until ? { until } : {}), expect: [] }] });

describe('parseScenarioFile', () => {
  it('refuses a step or until past what a date holds, naming it (the run would fail with "Invalid time value")', () => {
    expect(() => parseScenarioFile('far.json', file('99999999999d'))).toThrow(ScenarioFileError);
    expect(() => parseScenarioFile('far.json', file('99999999999d'))).toThrow(/steps\[0\]\.at: "99999999999d" from the start is past the last time a date can hold/);
    expect(() => parseScenarioFile('far.json', file('0s', '99999999999d'))).toThrow(/until: "99999999999d" from the start is past/);
  });

  it('takes a long scenario that stays within dates', () => {
    const [scenario] = parseScenarioFile('long.json', file('0s', '3650d'));
    expect(scenario?.untilMs).toBe(3650 * 86_400_000);
  });

  it('reads a file saved with a byte-order mark (Windows Notepad), as a pack is', () => {
    const [scenario] = parseScenarioFile('bom.json', `\uFEFF${file('0s', '1h')}`);
    expect(scenario?.untilMs).toBe(3_600_000);
  });
});
