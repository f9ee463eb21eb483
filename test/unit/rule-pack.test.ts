import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuleFileError, parseRulePack } from '../../gateway/rules/pack.js';
import { REPO_RULES } from '../helpers/gateway.js';

function problems(text: string): readonly string[] {
  try {
    parseRulePack('rules/x.json', text);
  } catch (err) {
    expect(err).toBeInstanceOf(RuleFileError);
    return (err as RuleFileError).problems;
  }
  throw new Error('the pack was accepted');
}

const rule = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    rules: [
      {
        name: 'r1',
        conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 1 }] },
        event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'cool' } } },
        ...over,
      },
    ],
  });

describe('rule packs', () => {
  it('loads the three shipped packs', async () => {
    const files = (await readdir(REPO_RULES)).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(['hvac.json', 'lighting.json', 'security.json']);
    for (const f of files) expect(parseRulePack(f, await readFile(join(REPO_RULES, f), 'utf8')).length).toBeGreaterThan(0);
  });

  it('names the line and column of a JSON syntax error', () => {
    const [p] = problems('{\n  "rules": [\n    {,\n  ]\n}');
    expect(p).toMatch(/^not valid JSON: .*line 3, column 6/);
  });

  it('names the path of each schema problem', () => {
    const found = problems(JSON.stringify({ rules: [{ name: 'bad name!', conditions: {}, event: { type: 'command', params: { data: {} } } }] }));
    expect(found).toContain("rules[0].event.params: must have required property 'actuator'");
    expect(found.some((p) => p.startsWith('rules[0].name: must match pattern'))).toBe(true);
  });

  it('refuses unknown facts, operators and kinds, naming the rule', () => {
    const found = problems(
      rule({
        conditions: {
          all: [
            { fact: 'temprature', operator: 'greaterThan', value: 1 },
            { fact: 'value', operator: 'biggerThan', value: 1 },
            { fact: 'kind', operator: 'equal', value: 'radiation' },
          ],
        },
      }),
    );
    expect(found).toEqual([
      expect.stringMatching(/^rules\[0\] \(r1\)\.conditions\.all\[0\]: unknown fact "temprature"/),
      expect.stringMatching(/^rules\[0\] \(r1\)\.conditions\.all\[1\]: unknown operator "biggerThan"/),
      'rules[0] (r1).conditions.all[2].value: unknown kind "radiation"',
    ]);
  });

  it('refuses an alert without severity and an unknown event type', () => {
    expect(problems(rule({ event: { type: 'alert', params: { message: 'x' } } }))).toContain("rules[0].event.params: must have required property 'severity'");
    expect(problems(rule({ event: { type: 'email', params: {} } }))).toContain('rules[0].event.type: must be one of "command", "alert"');
  });

  it('infers the kinds a rule reads from a kind condition', () => {
    const [r] = parseRulePack('x', rule({ conditions: { all: [{ fact: 'kind', operator: 'equal', value: 'co2' }, { fact: 'value', operator: 'greaterThan', value: 1000 }] } }));
    expect(r?.kinds).toEqual(['co2']);
  });
});
