/** Loading rule packs from a directory: what is in force after a load, a broken file, a change. */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleLoader, type RuleLoaderOptions, type RuleSet } from '../../../gateway/rules/loader.js';
import { captureLogs } from '../../helpers/gateway.js';

const dirs: string[] = [];
const loaders: RuleLoader[] = [];
afterEach(async () => {
  for (const l of loaders.splice(0)) await l.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function rulesDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-rules-'));
  dirs.push(dir);
  for (const [name, doc] of Object.entries(files)) await writeFile(join(dir, name), typeof doc === 'string' ? doc : JSON.stringify(doc));
  return dir;
}

const rule = (name: string, more: object = {}) => ({
  name,
  kinds: ['temperature'],
  conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] },
  event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'cool' } } },
  ...more,
});
const pack = (...rules: object[]) => ({ rules });
const heldFor = (forText: string) => ({ all: [{ fact: 'heldFor', params: { operator: 'greaterThan', value: 26, for: forText }, operator: 'equal', value: true }] });

function loaderFor(dir: string, o: Partial<RuleLoaderOptions> = {}) {
  const { lines, stream } = captureLogs();
  const changes: RuleSet[] = [];
  const results: [string, string][] = [];
  const loader = new RuleLoader({
    dir,
    log: pino({ level: 'info' }, stream),
    watch: false,
    onChange: (set) => void changes.push(set),
    onResult: (result, file) => void results.push([result, file]),
    ...o,
  });
  loaders.push(loader);
  const names = (set: RuleSet | undefined) => set?.rules.map((r) => r.name);
  return { loader, lines, changes, results, names };
}

describe('RuleLoader', () => {
  it('puts every *.json pack of the directory in force, with the actuators’ discipline', async () => {
    const dir = await rulesDir({
      'hvac.json': { ...pack(rule('cool'), rule('heat', { conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 18 }] } })), actuators: { hvac: { minOn: '5m', minOff: '3m', off: { mode: 'off' } } } },
      'lights.json': pack(rule('lights-on', { kinds: ['illuminance'] })),
      'notes.txt': 'not a pack',
    });
    const { loader, changes, results, names } = loaderFor(dir);
    await loader.start();
    expect(changes).toHaveLength(1);
    expect(names(changes[0])).toEqual(['cool', 'heat', 'lights-on']);
    expect(changes[0]?.actuators['hvac']).toMatchObject({ minOnMs: 300_000, minOffMs: 180_000, off: { mode: 'off' } });
    expect(results.map(([r, f]) => [r, f.split('/').at(-1)])).toEqual([
      ['loaded', 'hvac.json'],
      ['loaded', 'lights.json'],
    ]);
    expect(loader.problems.size).toBe(0);
  });

  it('rejects a broken file naming the file, the rule and the problem, and keeps the rules it had in force', async () => {
    const dir = await rulesDir({ 'hvac.json': pack(rule('cool-held', { conditions: heldFor('5m') })), 'lights.json': pack(rule('lights-on')) });
    const { loader, changes, results, lines, names } = loaderFor(dir);
    await loader.start();
    expect(names(changes.at(-1))).toEqual(['cool-held', 'lights-on']);

    await writeFile(join(dir, 'hvac.json'), JSON.stringify(pack(rule('cool-held', { conditions: heldFor('5 mins') }))));
    await loader.reload();

    const problem = loader.problems.get('hvac.json');
    expect(problem).toMatch(/hvac\.json: rules\[0\] \(cool-held\)\.conditions\.all\[0\]\.params\.for: must be .*\(got "5 mins"\)/);
    expect(results.at(-1)).toEqual(['rejected', expect.stringMatching(/hvac\.json$/)]);
    const logged = lines.find((l) => l['code'] === 'GW_ERR_RULE_FILE');
    expect(logged).toMatchObject({ level: 50, rulesKept: 1 });
    expect(logged?.msg).toContain(problem);
    // Nothing changed in force: no change announced, the old rule (5 minutes) and the other file stay.
    expect(changes).toHaveLength(1);
    expect(loader.rules.map((r) => r.name)).toEqual(['cool-held', 'lights-on']);
    expect(JSON.stringify(loader.rules[0]?.conditions)).toContain('300000');

    await writeFile(join(dir, 'hvac.json'), JSON.stringify(pack(rule('cool-held', { conditions: heldFor('10m') }))));
    await loader.reload();
    expect(loader.problems.size).toBe(0);
    expect(changes).toHaveLength(2);
    expect(JSON.stringify(changes[1]?.rules[0]?.conditions)).toContain('600000');
  });

  it('says where a file stops being JSON', async () => {
    const dir = await rulesDir({ 'bad.json': '{\n  "rules": [\n    {"name": "x",,}\n  ]\n}' });
    const { loader, changes } = loaderFor(dir);
    await loader.start();
    expect(loader.problems.get('bad.json')).toMatch(/bad\.json: not valid JSON: .* at line 3, column \d+/);
    // No rules came into force, so no change to announce.
    expect(changes).toEqual([]);
  });

  it('rejects a file whose rule name or actuator another file already has', async () => {
    const dir = await rulesDir({
      'a.json': { ...pack(rule('cool')), actuators: { hvac: { minOn: '1m', off: { mode: 'off' } } } },
      'b.json': pack(rule('cool')),
      'c.json': { ...pack(rule('other')), actuators: { hvac: { minOn: '9m', off: { mode: 'off' } } } },
    });
    const { loader, names, changes } = loaderFor(dir);
    await loader.start();
    expect(loader.problems.get('b.json')).toContain('rule name "cool" is already used in another file');
    expect(loader.problems.get('c.json')).toMatch(/actuators\.hvac: already set in .*a\.json/);
    expect(names(changes.at(-1))).toEqual(['cool']);
    expect(changes.at(-1)?.actuators['hvac']?.minOnMs).toBe(60_000);
  });

  it('takes a removed file’s rules out of force', async () => {
    const dir = await rulesDir({ 'a.json': pack(rule('cool')), 'b.json': pack(rule('lights-on')) });
    const { loader, changes, names } = loaderFor(dir);
    await loader.start();
    await unlink(join(dir, 'b.json'));
    await loader.reload();
    expect(names(changes.at(-1))).toEqual(['cool']);
  });

  it('loads only the files asked for, and names one that is missing', async () => {
    const dir = await rulesDir({ 'a.json': pack(rule('cool')), 'b.json': pack(rule('lights-on')) });
    const { loader, changes, names } = loaderFor(dir, { files: ['b.json', 'gone.json'] });
    await loader.start();
    expect(names(changes.at(-1))).toEqual(['lights-on']);
    expect(loader.problems.get('gone.json')).toMatch(/gone\.json: no such rule file$/);
  });

  it('reloads by itself when a file in the directory changes', async () => {
    const dir = await rulesDir({ 'a.json': pack(rule('cool')) });
    let announce: (set: RuleSet) => void = () => undefined;
    const { loader } = loaderFor(dir, { watch: true, debounceMs: 10, onChange: (set) => announce(set) });
    await loader.start();
    expect(loader.rules.map((r) => r.name)).toEqual(['cool']);
    // Waits for the change to be announced (the test's timeout bounds it), never for a fixed time.
    const changed = new Promise<RuleSet>((resolve) => (announce = resolve));
    await writeFile(join(dir, 'b.json'), JSON.stringify(pack(rule('lights-on'))));
    expect((await changed).rules.map((r) => r.name)).toEqual(['cool', 'lights-on']);
  });
});
