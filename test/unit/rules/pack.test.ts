import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuleFileError, parsePack, parseRulePack } from '../../../gateway/rules/pack.js';
import { REPO_RULES } from '../../helpers/gateway.js';

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
  it('checks and normalises a fact compared with (`"value": {"fact": …}`) as it does the condition’s own fact', () => {
    const compared = (value: unknown) => rule({ kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value }] } });
    const [r] = parseRulePack('x', compared({ fact: 'latest', params: { kind: 'humidity', maxAge: '5m' } }));
    // In normal form, as the fact reads it: maxAge as maxAgeMs.
    expect(r?.conditions).toMatchObject({ all: [{ fact: 'value', operator: 'greaterThan', value: { fact: 'latest', params: { kind: 'humidity', maxAgeMs: 300_000 } } }] });
    expect(problems(compared({ fact: 'lastest' }))).toEqual([expect.stringContaining('rules[0] (r1).conditions.all[0].value.fact: unknown fact "lastest"')]);
    expect(problems(compared({ fact: 'latest', params: { kind: 'humidity', maxAge: 'soon' } }))).toEqual([expect.stringContaining('rules[0] (r1).conditions.all[0].value.params.maxAge')]);
  });

  it('loads the three shipped packs', async () => {
    const files = (await readdir(REPO_RULES)).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(['hvac.json', 'lighting.json', 'security.json']);
    for (const f of files) expect(parseRulePack(f, await readFile(join(REPO_RULES, f), 'utf8')).length).toBeGreaterThan(0);
  });

  it('names the line and column of a JSON syntax error', () => {
    const [p] = problems('{\n  "rules": [\n    {,\n  ]\n}');
    expect(p).toMatch(/^not valid JSON: .*line 3, column 6/);
  });

  it('names the path of each schema problem, the rule by its name, and the bad value', () => {
    const found = problems(JSON.stringify({ rules: [{ name: 'bad name!', conditions: {}, event: { type: 'command', params: { data: {} } } }] }));
    expect(found).toContain("rules[0] (bad name!).event.params: must have required property 'actuator'");
    expect(found).toContain('rules[0] (bad name!).name: must match pattern "^[A-Za-z0-9_.-]{1,64}$" (got "bad name!")');
    expect(problems(JSON.stringify({ rules: [{ name: 'r1', conditions: { all: [] } }] }))).toEqual(["rules[0] (r1): must have required property 'event'"]);
    expect(problems(JSON.stringify({ rules: [{ conditions: { all: [] }, event: { type: 'alert', params: { severity: 'info', message: 'm' } } }] }))).toEqual(["rules[0]: must have required property 'name'"]);
  });

  it('shows a misspelt kind or severity with the values it may take', () => {
    expect(problems(rule({ kinds: ['temprature'] }))).toEqual([
      // Kinds are a runtime registry (the device map may add some): the check names the kinds known now.
      'rules[0] (r1).kinds: unknown kind "temprature" (known: temperature, humidity, co2, illuminance, occupancy, motion, contact, smoke, power, battery, keypad)',
    ]);
    expect(problems(rule({ event: { type: 'alert', params: { severity: 'urgent', message: 'x' } } }))).toEqual(['rules[0] (r1).event.params.severity: must be one of "info", "warning", "critical" (got "urgent")']);
  });

  it('refuses a misspelt placeholder in an alert message, which would go out in braces', () => {
    expect(problems(rule({ event: { type: 'alert', params: { severity: 'warning', message: 'door {{devcie}} open in {{zone}}' } } }))).toEqual([
      'rules[0] (r1).event.params.message: unknown placeholder {{devcie}} (known: {{device}}, {{zone}}, {{site}}, {{kind}}, {{value}})',
    ]);
    expect(problems(rule({ event: { type: 'alert', params: { severity: 'warning', message: '{{ device }} at {{value}}' } } }))).toEqual([
      'rules[0] (r1).event.params.message: unknown placeholder {{ device }} (known: {{device}}, {{zone}}, {{site}}, {{kind}}, {{value}})',
    ]);
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
    expect(problems(rule({ event: { type: 'alert', params: { message: 'x' } } }))).toContain("rules[0] (r1).event.params: must have required property 'severity'");
    expect(problems(rule({ event: { type: 'email', params: {} } }))).toContain('rules[0] (r1).event.type: must be one of "command", "alert" (got "email")');
  });

  it('infers the kinds a rule reads from a kind condition', () => {
    const [r] = parseRulePack('x', rule({ conditions: { all: [{ fact: 'kind', operator: 'equal', value: 'co2' }, { fact: 'value', operator: 'greaterThan', value: 1000 }] } }));
    expect(r?.kinds).toEqual(['co2']);
  });

  it('checks the params of the time facts, naming the rule, the condition and the param', () => {
    const found = problems(
      rule({
        kinds: ['temperature', 'humidity'],
        conditions: {
          all: [
            { fact: 'heldFor', params: { kind: 'temperature', operator: 'greaterThan', value: 26, for: '5 mins' }, operator: 'equal', value: true },
            { fact: 'window', params: { agg: 'median', within: '5m' }, operator: 'greaterThan', value: 1 },
            { fact: 'absent', params: { kind: 'motion', equals: 'yes', for: '10m', every: '1m' }, operator: 'equal', value: true },
            { fact: 'hysteresis', params: { kind: 'illuminance', onAbove: 300, offBelow: 500 }, operator: 'equal', value: true },
            { fact: 'timeOfDay', operator: 'timeBetween', value: ['22:00', '6:00'] },
          ],
        },
      }),
    );
    expect(found).toEqual([
      'rules[0] (r1).conditions.all[0].params.for: must be a duration such as "30s", "5m", "1h30m" (units ms, s, m, h, d), more than zero (got "5 mins")',
      'rules[0] (r1).conditions.all[1].params.kind: required: the rule reads several kinds (temperature, humidity), say which one',
      'rules[0] (r1).conditions.all[1].params.agg: must be one of "avg", "min", "max", "count", "sum" (got "median")',
      'rules[0] (r1).conditions.all[2].params.every: unknown param (known: kind, scope, equals, for)',
      'rules[0] (r1).conditions.all[2].params.equals: must be a bool value of motion (got "yes")',
      'rules[0] (r1).conditions.all[3].params.offBelow: must not be above onAbove',
      'rules[0] (r1).conditions.all[4].value: must be ["HH:MM", "HH:MM"] (24-hour clock)',
    ]);
  });

  it('takes the rule’s kind as a time fact’s default and puts durations in ms', () => {
    const [r] = parseRulePack('x', rule({ kinds: ['co2'], conditions: { all: [{ fact: 'window', params: { agg: 'avg', within: '10m' }, operator: 'greaterThan', value: 1000 }] } }));
    expect(r?.windows).toEqual([{ kind: 'co2', scope: 'zone', withinMs: 600_000 }]);
    expect(r?.conditions).toEqual({ all: [{ fact: 'window', params: { agg: 'avg', within: '10m', withinMs: 600_000, kind: 'co2', scope: 'zone' }, operator: 'greaterThan', value: 1000 }] });
  });

  it('checks actuator disciplines: durations, and what "off" is', () => {
    const text = (actuators: unknown) => JSON.stringify({ actuators, rules: [] });
    expect(() => parsePack('a.json', text({ hvac: { minOn: '5m' } }))).toThrow('actuators.hvac: needs "off", the command data that means off');
    expect(() => parsePack('a.json', text({ hvac: { minOn: 'five', off: { mode: 'off' } } }))).toThrow('actuators.hvac.minOn: must be a duration');
    expect(() => parsePack('a.json', text({ 'bad name': { minOn: '1m', off: {} } }))).toThrow('"bad name" is not a valid actuator name');
    expect(parsePack('a.json', text({ hvac: { minOn: '5m', minOff: '3m', off: { mode: 'off' } } })).actuators['hvac']).toMatchObject({ minOnMs: 300_000, minOffMs: 180_000, off: { mode: 'off' } });
  });

  describe('an alert rule’s alarm', () => {
    const alert = (params: Record<string, unknown>, conditions: unknown = { all: [{ fact: 'value', operator: 'equal', value: true }] }) =>
      rule({ kinds: ['smoke'], conditions, event: { type: 'alert', params: { severity: 'critical', message: 'smoke', ...params } } });

    it('is per zone, repeats by severity and clears after 5 quiet minutes unless the pack says otherwise', () => {
      expect(parseRulePack('x', alert({}))[0]?.alarm).toEqual({ per: 'zone', repeatMs: 300_000, clearAfterMs: 300_000, clearWhen: undefined });
      expect(parseRulePack('x', alert({ repeat: '1m', clearAfter: '30s', per: 'device' }))[0]?.alarm).toMatchObject({ per: 'device', repeatMs: 60_000, clearAfterMs: 30_000 });
      expect(parseRulePack('x', alert({ repeatAfterSeconds: 90 }))[0]?.alarm?.repeatMs).toBe(90_000);
    });

    it('is per device when the rule’s time facts look at one device', () => {
      const [r] = parseRulePack('x', alert({}, { all: [{ fact: 'absent', params: { scope: 'device', for: '30m' }, operator: 'equal', value: true }] }));
      expect(r?.alarm?.per).toBe('device');
    });

    it('with clearWhen clears only by it (no quiet period), its facts checked like the rule’s', () => {
      const [r] = parseRulePack('x', alert({ clearWhen: { all: [{ fact: 'value', operator: 'equal', value: false }] } }));
      expect(r?.alarm).toMatchObject({ clearAfterMs: undefined, clearWhen: { all: [{ fact: 'value', operator: 'equal', value: false }] } });
      expect(problems(alert({ clearWhen: { all: [{ fact: 'valu', operator: 'equal', value: false }] } }))).toEqual([expect.stringMatching(/^rules\[0\] \(r1\)\.event\.params\.clearWhen\.all\[0\]: unknown fact "valu"/)]);
    });

    it('refuses contradictions and bad durations, naming them', () => {
      expect(problems(alert({ repeat: '1m', repeatAfterSeconds: 60 }))).toContain('rules[0] (r1).event.params: give repeat or repeatAfterSeconds, not both');
      expect(problems(alert({ clearAfter: '1m', clearWhen: { all: [] } }))).toContain('rules[0] (r1).event.params: give clearWhen or clearAfter, not both');
      expect(problems(alert({ repeat: 'often' }))).toEqual([expect.stringContaining('rules[0] (r1).event.params.repeat: must be a duration')]);
      expect(problems(alert({ per: 'site' }))[0]).toContain('per');
    });
  });

  it('takes override on a command: it acts even on an actuator someone took over by hand', () => {
    const [r] = parseRulePack('x', rule({ event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'off' }, override: true } } }));
    expect(r?.event).toMatchObject({ params: { override: true } });
  });

  it('refuses a literal of the wrong type for the rule’s kinds, naming the type expected: it would never match, or always', () => {
    const on = (kinds: string[], condition: object) => rule({ kinds, conditions: { all: [condition] } });
    // A contact's value is a boolean: "true" (a string) is never equal to it, and never unequal to anything but itself.
    expect(problems(on(['contact'], { fact: 'value', operator: 'equal', value: 'true' }))).toEqual([
      'rules[0] (r1).conditions.all[0].value: must be a boolean, the type of contact’s value (got "true"): as it is, the condition never holds',
    ]);
    expect(problems(on(['contact'], { fact: 'value', operator: 'notEqual', value: 'false' }))).toEqual([expect.stringContaining('must be a boolean, the type of contact’s value (got "false"): as it is, the condition always holds')]);
    expect(problems(on(['temperature'], { fact: 'value', operator: 'in', value: [20, '21'] }))).toEqual([expect.stringContaining('rules[0] (r1).conditions.all[0].value[1]: must be a number, the type of temperature’s value (got "21"): as it is, that entry never matches')]);
    expect(problems(on(['keypad'], { fact: 'value', operator: 'equal', value: 'OK' }))).toEqual([expect.stringContaining('must be one of "ok", "fail", the values of keypad (got "OK")')]);
    // An unknown operator named like an Object method is said once, as unknown, not also as a wrong literal.
    expect(problems(on(['contact'], { fact: 'value', operator: 'constructor', value: ['x'] }))).toEqual([expect.stringContaining('constructor')]);
    // Comparing numbers on a kind whose value is no number never holds.
    expect(problems(on(['motion'], { fact: 'value', operator: 'greaterThan', value: 0 }))).toEqual([expect.stringContaining('rules[0] (r1).conditions.all[0].operator: greaterThan compares numbers, but motion’s value is a boolean: the condition never holds')]);
    // The kind a `latest` reads is its own, not the rule's.
    expect(problems(on(['temperature'], { fact: 'latest', params: { kind: 'occupancy' }, operator: 'equal', value: 1 }))).toEqual([expect.stringContaining('must be a boolean, the type of occupancy’s value (got 1)')]);
    // heldFor's own comparison too.
    expect(problems(on(['contact'], { fact: 'heldFor', params: { operator: 'equal', value: 'true', for: '10m' }, operator: 'equal', value: true }))).toEqual([
      expect.stringContaining('rules[0] (r1).conditions.all[0].params.value: must be a boolean, the type of contact’s value (got "true")'),
    ]);
    // What fits stays accepted: the right types, several kinds of one type, a mix where the literal fits one, every kind, isTrue.
    expect(parseRulePack('x', on(['contact'], { fact: 'value', operator: 'equal', value: true }))).toHaveLength(1);
    expect(parseRulePack('x', on(['occupancy', 'motion'], { fact: 'value', operator: 'notEqual', value: false }))).toHaveLength(1);
    expect(parseRulePack('x', on(['temperature', 'contact'], { fact: 'value', operator: 'equal', value: true }))).toHaveLength(1);
    expect(parseRulePack('x', on(['keypad'], { fact: 'value', operator: 'in', value: ['ok', 'fail'] }))).toHaveLength(1);
    expect(parseRulePack('x', on(['keypad'], { fact: 'value', operator: 'isTrue', value: false }))).toHaveLength(1);
    expect(parseRulePack('x', rule({ conditions: { all: [{ fact: 'value', operator: 'equal', value: 'anything' }] } }))).toHaveLength(1);
  });

  it('refuses "kinds": [] (it would run the rule for every kind; only leaving kinds out means that)', () => {
    expect(problems(rule({ kinds: [] }))).toEqual(['rules[0] (r1).kinds: empty, which would run the rule for every kind: list the kinds it reads, or leave "kinds" out to mean every kind']);
  });

  it('accepts a pack saved with a UTF-8 byte-order mark (Windows Notepad)', () => {
    expect(parseRulePack('x', `\uFEFF${rule({ kinds: ['temperature'] })}`)).toHaveLength(1);
  });
});
