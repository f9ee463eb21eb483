/** `npm run rules:test` as a user runs it, on copies of the packs: breaking a rule fails the right scenario, clearly. */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_RULES } from '../../helpers/gateway.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const TSX = resolve(ROOT, 'node_modules', '.bin', 'tsx');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-rules-runner-'));
  await cp(REPO_RULES, dir, { recursive: true, filter: (src) => !src.endsWith('.ts') });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function runner(...args: string[]): Promise<{ code: number; out: string }> {
  return run(['--rules', dir, ...args]);
}

/** The runner as typed, without --rules, RULES_DIR unset, from `dir`. */
async function run(args: string[]): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  if (args[0] !== '--rules') delete env['RULES_DIR'];
  try {
    const { stdout, stderr } = await promisify(execFile)(TSX, [resolve(ROOT, 'gateway', 'cli', 'rules-test.ts'), ...args], { cwd: dir, env });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const path = join(dir, file);
  const text = await readFile(path, 'utf8');
  expect(text).toContain(from);
  await writeFile(path, text.replace(from, to));
}

describe('npm run rules:test', () => {
  it('passes on the shipped packs, saying what a minimum on or off time held back', async () => {
    const { code, out } = await runner();
    expect(out).toMatch(/scenarios: \d+ passed, 0 failed/);
    expect(code).toBe(0);
    expect(out).toContain(
      '✓ tests/hvac.json › minimum on time: cooling no longer needed after 1 minute stops at 5 minutes\n' +
        '    held back at 1m00s: hq/f1/hvac stays on until 5m00s (minimum on time 5m00s): {"mode":"off"} by hvac-cool-done is held back, and the rules run again then\n',
    );
  });

  it('fails the held-for scenario, with a diff of expected against actual, when its threshold is raised', async () => {
    await edit('hvac.json', '"operator": "greaterThan", "value": 26, "for": "5m"', '"operator": "greaterThan", "value": 27, "for": "5m"');
    const { code, out } = await runner(join(dir, 'tests', 'hvac.json'));
    expect(code).toBe(1);
    const failed = out.split('\n').filter((l) => l.startsWith('✗'));
    expect(failed).toEqual([
      expect.stringContaining('27 °C for 5 minutes cools when the time is up, with no new reading'),
      expect.stringContaining('a dip below 26 °C restarts the 5 minutes'),
    ]);
    expect(out).toContain('✓ ');
    expect(out).toContain('31 °C cools at once');
    expect(out).toMatch(/- 5m00s +command hq\/f1\/hvac \{"mode":"cool","setpoint":22\} by hvac-cool-held\n +nothing of that kind happened\n +hvac-cool-held did not fire at 5m00s \(last reading: r1 from hq\/f1\/t1 at 0s\): heldFor\(temperature greaterThan 27, 5m\) = false — equal true: false; anyInSite\(kind smoke\) = false — equal false: true\n +\(expect\[0\]\)/);
    expect(out).toMatch(/scenarios: \d+ passed, 2 failed/);
  });

  it('shows an unexpected command and a forbidden one when the band is lowered', async () => {
    await edit('hvac.json', '"operator": "greaterThan", "value": 26, "for": "5m"', '"operator": "greaterThan", "value": 25, "for": "5m"');
    const { code, out } = await runner(join(dir, 'tests', 'hvac.json'));
    expect(code).toBe(1);
    expect(out).toContain('✗ tests/hvac.json › boundary: 26 °C exactly never cools, however long');
    expect(out).toMatch(/! 5m00s +command hq\/f1\/hvac \{"mode":"cool","setpoint":22\} by hvac-cool-held {2}← r10 \(26 on sensors\/hq\/f1\/t1\/temperature at 4m30s\)\n +forbidden by expectNot\[0\]/);
  });

  it('names a rule an expectation names that no loaded pack has, and the nearest names, instead of a diff', async () => {
    await edit(join('tests', 'hvac.json'), '"setpoint": 22 }, "rule": "hvac-cool" }]', '"setpoint": 22 }, "rule": "hvac-cooll" }]');
    const { code, out } = await runner(join(dir, 'tests', 'hvac.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/^✗ tests\/hvac\.json › 31 °C cools at once .*\n {4}expect\[0\]: no loaded pack has a rule named "hvac-cooll"; nearest: hvac-cool, hvac-cool-held, hvac-cool-done\n/m);
    expect(out).not.toContain('by hvac-cooll');
    expect(out).toMatch(/scenarios: \d+ passed, 1 failed/);
  });

  it('names an unknown rule in expectNot too: a typo there would pass forever', async () => {
    await edit(join('tests', 'hvac.json'), '"expectNot": [{ "command": "hq/f1/hvac", "before": "5m" }]', '"expectNot": [{ "command": "hq/f1/hvac", "before": "5m", "rule": "hvac-cool-hold" }]');
    const { code, out } = await runner(join(dir, 'tests', 'hvac.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/ {4}expectNot\[0\]: no loaded pack has a rule named "hvac-cool-hold"; nearest: hvac-cool-held,/);
  });

  it('fails when --grep matches no scenario: a mistyped filter must not pass in CI', async () => {
    const { code, out } = await runner('--grep', 'no such scenario');
    expect(code).toBe(1);
    expect(out).toContain('no scenario name contains "no such scenario"');
    const picked = await runner('--grep', 'smoke');
    expect(picked.out).toMatch(/scenarios: [1-9]\d* passed, 0 failed/);
  });

  it('names the file, the rule and the problem when a pack is broken', async () => {
    await edit('hvac.json', '"for": "5m"', '"for": "5 minutes"');
    const { code, out } = await runner(join(dir, 'tests', 'hvac.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/^✗ hvac\.json: rules\[1\] \(hvac-cool-held\)\.conditions\.all\[0\]\.params\.for: must be a duration such as "30s", "5m", "1h30m".*\(got "5 minutes"\)$/m);
    expect(out).not.toContain('scenarios:');
  });

  it('names the file, the scenario and the step when a scenario file is broken', async () => {
    await edit(join("tests", "security.json"), "\"at\": \"1m0.001s\"", "\"at\": \"a minute and a bit\"");
    const { code, out } = await runner(join(dir, 'tests', 'security.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/^✗ tests\/security\.json:\n +scenarios\[3\] \("boundary: three failed codes spread over more than a minute do not alert"\)\.steps\[2\]\.at: must be a duration/m);
  });

  it('says, when an expected command did not happen, that its rule fired and lost to another rule of the same priority, and why', async () => {
    const fan = (name: string, above: number, state: string) => ({
      name,
      kinds: ['power'],
      priority: 10,
      conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: above }] },
      event: { type: 'command', params: { actuator: 'fan', data: { state } } },
    });
    await writeFile(join(dir, 'fan-b.json'), JSON.stringify({ name: 'fan-b', rules: [fan('fan-off', 50, 'off')] }));
    await writeFile(join(dir, 'zz-fan-a.json'), JSON.stringify({ name: 'fan-a', rules: [fan('fan-on', 100, 'on')] }));
    const scenario = {
      packs: ['fan-b.json', 'zz-fan-a.json'],
      scenarios: [
        {
          name: 'a high load turns the fan on',
          steps: [{ at: '0s', publish: 'sensors/hq/f1/meter-1/power', value: 120, id: 'p1' }],
          until: '1m',
          strict: false,
          expect: [{ at: '0s', command: 'hq/f1/fan', data: { state: 'on' }, rule: 'fan-on' }],
        },
      ],
    };
    await writeFile(join(dir, 'tests', 'fan.json'), JSON.stringify(scenario));
    const { code, out } = await runner(join(dir, 'tests', 'fan.json'));
    expect(code).toBe(1);
    expect(out).toMatch(
      / {4}- 0s +command hq\/f1\/fan \{"state":"on"\} by fan-on\n {8}fan-on fired at 0s and lost to fan-off \{"state":"off"\}: same priority \(10\); of rules with the same priority, the one whose name sorts first wins\n/,
    );
    expect(out).not.toContain('nothing of that kind happened');
  });

  it('says why a rule did not fire when its expected command is missing: each condition with the fact’s value then and whether it held', async () => {
    const pack = {
      name: 'air',
      rules: [
        {
          name: 'simple-co2',
          kinds: ['co2'],
          conditions: { all: [{ fact: 'window', params: { kind: 'co2', agg: 'avg', within: '5m' }, operator: 'greaterThan', value: 1500 }, { fact: 'zone', operator: 'equal', value: 'f2' }] },
          event: { type: 'command', params: { actuator: 'fan', data: { state: 'on' } } },
        },
      ],
    };
    await writeFile(join(dir, 'air.json'), JSON.stringify(pack));
    const scenario = {
      packs: ['air.json'],
      scenarios: [
        {
          name: 'stuffy air turns the fan on',
          steps: [{ at: '0s', publish: 'sensors/hq/f2/c1/co2', values: [900, 1000, 1100, 1200, 1130], every: '30s' }],
          expect: [{ at: '2m', command: 'hq/f2/fan', data: { state: 'on' } }, { at: '2m', command: 'hq/f2/fann' }],
        },
      ],
    };
    await writeFile(join(dir, 'tests', 'air.json'), JSON.stringify(scenario));
    const { code, out } = await runner(join(dir, 'tests', 'air.json'));
    expect(code).toBe(1);
    expect(out).toMatch(
      / {4}- 2m00s +command hq\/f2\/fan \{"state":"on"\}\n {8}nothing of that kind happened\n {8}simple-co2 did not fire at 2m00s: window avg\(co2, 5m\) = 1066 — greaterThan 1500: false; zone = "f2" — equal "f2": true\n/,
    );
    // A misspelt actuator: no rule could have sent it.
    expect(out).toMatch(/ {4}- 2m00s +command hq\/f2\/fann\n {8}nothing of that kind happened\n {8}no rule in force commands fann in hq\/f2\n/);
    // --json says the same, each line under `explained`, the "no rule in force" one too.
    const json = await runner(join(dir, 'tests', 'air.json'), '--json');
    const [result] = JSON.parse(json.out.slice(json.out.indexOf('['))) as { missing: { expectation: { target: string }; explained: string[] }[] }[];
    const explained = Object.fromEntries(result!.missing.map((m) => [m.expectation.target, m.explained]));
    expect(explained['hq/f2/fan']?.[0]).toMatch(/^simple-co2 did not fire at 2m00s: window avg\(co2, 5m\) = 1066/);
    expect(explained['hq/f2/fann']).toEqual(['no rule in force commands fann in hq/f2']);
  });

  it('knows the kinds the device map adds (DEVICES_FILE, as the gateway does): a pack on pressure is tested, not refused', async () => {
    await writeFile(join(dir, 'devices.yaml'), 'kinds:\n  pressure: { unit: hPa, type: number, min: 300, max: 1100 }\n');
    const pack = {
      name: 'weather',
      rules: [{ name: 'storm', kinds: ['pressure'], conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 980 }] }, event: { type: 'alert', params: { severity: 'warning', message: 'pressure falling at {{device}}' } } }],
    };
    await writeFile(join(dir, 'weather.json'), JSON.stringify(pack));
    const scenario = {
      packs: ['weather.json'],
      scenarios: [{ name: 'a storm warns', steps: [{ at: '0s', publish: 'sensors/hq/roof/baro-1/pressure', value: 970 }], until: '1m', expect: [{ at: '0s', alert: 'hq/warning', rule: 'storm', message: 'pressure falling at baro-1' }] }],
    };
    await writeFile(join(dir, 'tests', 'weather.json'), JSON.stringify(scenario));
    const { code, out } = await runner(join(dir, 'tests', 'weather.json'));
    expect(out).toContain('✓ tests/weather.json › a storm warns');
    expect(code).toBe(0);
  });

  it('names the pack whose minimum on/off time applies to no actuator the rules command, once, before running anything', async () => {
    await edit('hvac.json', '"hvac": { "description"', '"havc": { "description"');
    const { code, out } = await runner(join(dir, 'tests', 'hvac.json'));
    expect(code).toBe(1);
    expect(out).toMatch(/^✗ hvac\.json: actuators\.havc: no rule commands an actuator named "havc", so its minimum on\/off time never applies; did you mean "hvac"\? \(the rules command: hvac, lights, ventilation\)$/m);
    expect(out).not.toContain('scenarios:');
  });

  it('says where packs are looked up when a scenario file’s packs are not there, and suggests --rules for the directory that holds them', async () => {
    const mine = join(dir, 'myrules');
    await mkdir(join(mine, 'tests'), { recursive: true });
    const climate = { rules: [{ name: 'dry-on', kinds: ['humidity'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 60 }] }, event: { type: 'command', params: { actuator: 'dehumidifier', data: { mode: 'dry' } } } }] };
    await writeFile(join(mine, 'climate.json'), JSON.stringify(climate));
    const scenario = { packs: ['climate.json'], scenarios: [{ name: 'humid dries', steps: [{ at: '0s', publish: 'sensors/hq/f1/h1/humidity', value: 70 }], expect: [{ at: '0s', command: 'hq/f1/dehumidifier', data: { mode: 'dry' } }] }] };
    await writeFile(join(mine, 'tests', 'climate.json'), JSON.stringify(scenario));
    const { code, out } = await run([join('myrules', 'tests', 'climate.json')]);
    expect(code).toBe(1);
    expect(out).toContain('myrules/tests/climate.json: no pack climate.json in rules (packs are looked up in --rules DIR, default RULES_DIR, else rules/): myrules holds it, so try --rules myrules');
    expect(out).not.toContain('no such rule file');
    const fixed = await run(['--rules', 'myrules', join('myrules', 'tests', 'climate.json')]);
    expect(fixed.out).toContain('✓ myrules/tests/climate.json › humid dries');
    expect(fixed.code).toBe(0);
  });
});
