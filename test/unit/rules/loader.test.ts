/** Loading rule packs from a directory: what is in force after a load, a broken file, a change. */
import { mkdir, mkdtemp, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defineKinds, releaseKinds } from '../../../gateway/core/kinds.js';
import { RuleLoader, type RuleLoaderOptions, type RuleSet } from '../../../gateway/rules/loader.js';
import { captureLogs } from '../../helpers/gateway.js';
import { waitFor } from '../../helpers/wait.js';

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

  it('does not reject a save still being written: the file half written is read again, the rules in force meanwhile stay', async () => {
    const dir = await rulesDir({ 'hvac.json': pack(rule('cool')) });
    const { loader, changes, results, lines, names } = loaderFor(dir, { settleMs: 60_000 });
    await loader.start();
    const whole = JSON.stringify(pack(rule('cool'), rule('heat', { conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 18 }] } })), null, 2);
    for (const cut of [0, 1, whole.indexOf('"heat"') + 3, whole.length - 2]) {
      await writeFile(join(dir, 'hvac.json'), whole.slice(0, cut));
      await loader.reload();
      expect(loader.problems.size).toBe(0);
      expect(names(changes.at(-1))).toEqual(['cool']);
    }
    await writeFile(join(dir, 'hvac.json'), whole);
    await loader.reload();
    expect(names(changes.at(-1))).toEqual(['cool', 'heat']);
    expect(results.map(([r]) => r)).toEqual(['loaded', 'loaded']);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_RULE_FILE')).toEqual([]);
  });

  it('rejects a file cut short once it has been still for the settle time, and a complete broken one at once', async () => {
    const dir = await rulesDir({ 'hvac.json': pack(rule('cool')), 'lights.json': pack(rule('lights-on', { kinds: ['illuminance'] })) });
    const { loader, results } = loaderFor(dir, { settleMs: 60_000 });
    await loader.start();
    await writeFile(join(dir, 'hvac.json'), '{"rules": [');
    const past = new Date(Date.now() - 120_000);
    await utimes(join(dir, 'hvac.json'), past, past);
    await writeFile(join(dir, 'lights.json'), '{"rules": [,]}');
    await loader.reload();
    expect([...loader.problems.keys()].sort()).toEqual(['hvac.json', 'lights.json']);
    expect(loader.problems.get('hvac.json')).toMatch(/not valid JSON/);
    expect(results.filter(([r]) => r === 'rejected')).toHaveLength(2);
  });

  it('rejects a file cut short whose time is far ahead of the clock (copied from a machine ahead), not waits for it without end (found by a review)', async () => {
    const dir = await rulesDir({ 'hvac.json': pack(rule('cool')) });
    const { loader, results } = loaderFor(dir, { settleMs: 60_000 });
    await loader.start();
    await writeFile(join(dir, 'hvac.json'), '{"rules": [');
    const ahead = new Date(Date.now() + 3_600_000);
    await utimes(join(dir, 'hvac.json'), ahead, ahead);
    await loader.reload();
    expect(loader.problems.get('hvac.json')).toMatch(/not valid JSON/);
    expect(results.filter(([r]) => r === 'rejected')).toHaveLength(1);
  });

  it('waits for a file cut short at most the settle time from when it was first read so, however often it is touched', async () => {
    const dir = await rulesDir({ 'hvac.json': pack(rule('cool')) });
    const { loader } = loaderFor(dir, { settleMs: 300 });
    await loader.start();
    await writeFile(join(dir, 'hvac.json'), '{"rules": [');
    await loader.reload();
    expect(loader.problems.size).toBe(0);
    // Touched again and again (a writer stuck mid-file): judged once 300 ms have passed since first seen.
    const toucher = setInterval(() => void writeFile(join(dir, 'hvac.json'), '{"rules": ['), 50);
    try {
      await waitFor(() => loader.problems.get('hvac.json'), 'the rejection');
    } finally {
      clearInterval(toucher);
    }
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
    expect(loader.problems.get('b.json')).toMatch(/rule name "cool" is already used in .*a\.json/);
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

describe('RuleLoader, when the kinds change', () => {
  it('judges every pack again: one on a kind the device map no longer adds is rejected, said, not left in force in silence', async () => {
    const owner = {};
    expect(defineKinds(owner, [{ name: 'pressure', unit: 'hPa', type: 'number' }])).toEqual([]);
    try {
      const dir = await rulesDir({ 'weather.json': pack(rule('storm', { kinds: ['pressure'] })) });
      const { loader, lines } = loaderFor(dir);
      await loader.start();
      expect(loader.problems.size).toBe(0);
      releaseKinds(owner);
      await loader.reload(true);
      expect(loader.problems.get('weather.json')).toMatch(/unknown kind "pressure"/);
      expect(lines.some((l) => l['code'] === 'GW_ERR_RULE_FILE' && String(l['msg']).includes('pressure'))).toBe(true);
    } finally {
      releaseKinds(owner);
    }
  });
});

describe('RuleLoader, files as they are deployed', () => {
  const json = (doc: unknown) => JSON.stringify(doc);

  it('follows symbolic links to rule files, rejects a dangling one, and ignores directories and dot entries', async () => {
    const checkout = await rulesDir({ 'hvac.json': pack(rule('cool')) });
    await mkdir(join(checkout, 'sub'));
    const dir = await rulesDir({ 'lights.json': pack(rule('lights-on')), '.hidden.json': pack(rule('hidden')) });
    await symlink(join(checkout, 'hvac.json'), join(dir, 'hvac.json'));
    await symlink(join(checkout, 'gone.json'), join(dir, 'broken.json'));
    await symlink(join(checkout, 'sub'), join(dir, 'packs.json'));
    const { loader, changes, names, lines } = loaderFor(dir);
    await loader.start();
    expect(names(changes.at(-1))).toEqual(['cool', 'lights-on']);
    expect([...loader.problems.keys()]).toEqual(['broken.json']);
    expect(loader.problems.get('broken.json')).toMatch(/broken\.json: a symbolic link to .*gone\.json, which does not exist/);
    expect(lines.find((l) => l['code'] === 'GW_ERR_RULE_FILE')?.msg).toContain('broken.json');
  });

  it('reloads when a ConfigMap-style volume swaps its ..data link to a new directory', async () => {
    const dir = await rulesDir({});
    await mkdir(join(dir, '..2026_01_01_00_00_00.1'));
    await writeFile(join(dir, '..2026_01_01_00_00_00.1', 'hvac.json'), json(pack(rule('cool'))));
    await symlink('..2026_01_01_00_00_00.1', join(dir, '..data'));
    await symlink('..data/hvac.json', join(dir, 'hvac.json'));
    const { loader, changes, names } = loaderFor(dir, { watch: true, debounceMs: 10 });
    await loader.start();
    expect(names(changes.at(-1))).toEqual(['cool']);
    expect(loader.problems.size).toBe(0);

    // What the kubelet does on an update: a new timestamped directory, a new link renamed over ..data, the old directory removed.
    await mkdir(join(dir, '..2026_01_02_00_00_00.2'));
    await writeFile(join(dir, '..2026_01_02_00_00_00.2', 'hvac.json'), json(pack(rule('cool'), rule('cool-2'))));
    await symlink('..2026_01_02_00_00_00.2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(join(dir, '..2026_01_01_00_00_00.1'), { recursive: true });
    await waitFor(() => names(changes.at(-1))?.includes('cool-2'), 'the reload after the ..data swap');
    expect(names(changes.at(-1))).toEqual(['cool', 'cool-2']);
    expect(loader.problems.size).toBe(0);
  });

  it('reloads when the file a link points to (in a checkout elsewhere) changes', async () => {
    const checkout = await rulesDir({ 'hvac.json': pack(rule('cool')) });
    const dir = await rulesDir({});
    await symlink(join(checkout, 'hvac.json'), join(dir, 'hvac.json'));
    const { loader, changes, names } = loaderFor(dir, { watch: true, debounceMs: 10 });
    await loader.start();
    expect(names(changes.at(-1))).toEqual(['cool']);
    // As git does: a new file renamed over the old one.
    await writeFile(join(checkout, 'hvac.json.tmp'), json(pack(rule('cool'), rule('heat'))));
    await rename(join(checkout, 'hvac.json.tmp'), join(checkout, 'hvac.json'));
    await waitFor(() => names(changes.at(-1))?.includes('heat'), 'the reload after the checkout changed');
    expect(names(changes.at(-1))).toEqual(['cool', 'heat']);
  });

  it('keeps a rule in force when one change moves it from one file to another', async () => {
    const dir = await rulesDir({ 'x.json': pack(rule('mv1'), rule('stay')) });
    const { loader, changes, names } = loaderFor(dir);
    await loader.start();
    // A git pull: w.json is new with mv1, x.json loses it; one reload sees both.
    await writeFile(join(dir, 'w.json'), json(pack(rule('mv1'))));
    await writeFile(join(dir, 'x.json'), json(pack(rule('stay'))));
    await loader.reload();
    expect(loader.problems.size).toBe(0);
    expect(names(changes.at(-1))).toEqual(['mv1', 'stay']);
  });

  it('keeps a moved rule in force when the watcher sees the two files change one after the other', async () => {
    const dir = await rulesDir({ 'x.json': pack(rule('mv1'), rule('stay')) });
    const { loader } = loaderFor(dir, { watch: true, debounceMs: 10 });
    await loader.start();
    await writeFile(join(dir, 'w.json'), json(pack(rule('mv1'))));
    // A pull that writes w.json well before x.json: w.json is refused while x.json still has mv1...
    await waitFor(() => loader.problems.has('w.json'), 'w.json refused');
    // ...and comes into force once x.json lets mv1 go.
    await writeFile(join(dir, 'x.json'), json(pack(rule('stay'))));
    await waitFor(() => loader.rules.map((r) => r.name).join() === 'mv1,stay' && loader.problems.size === 0, 'mv1 in force from w.json', 5000);
  });

  it('judges clashes against the new set: a changed file keeps what was in force, the other names it', async () => {
    const dir = await rulesDir({ 'a.json': pack(rule('one')), 'b.json': pack(rule('two')) });
    const { loader, changes, names } = loaderFor(dir);
    await loader.start();
    // Both change at once and both claim "two": b.json held it before, so a.json is the one rejected.
    await writeFile(join(dir, 'a.json'), json(pack(rule('one'), rule('two'))));
    await writeFile(join(dir, 'b.json'), json(pack(rule('two'), rule('three'))));
    await loader.reload();
    expect([...loader.problems.keys()]).toEqual(['a.json']);
    expect(loader.problems.get('a.json')).toMatch(/rule name "two" is already used in .*b\.json/);
    expect(names(changes.at(-1))).toEqual(['one', 'two', 'three']);
    // a.json moves "one" out, but is broken: its last good version (with "one") stays, so the new c.json cannot have it.
    await writeFile(join(dir, 'a.json'), '{ "rules": [');
    await writeFile(join(dir, 'c.json'), json(pack(rule('one'))));
    await loader.reload();
    expect(loader.problems.get('a.json')).toMatch(/not valid JSON/);
    expect(loader.problems.get('c.json')).toMatch(/rule name "one" is already used in .*a\.json/);
    expect(names(changes.at(-1))).toEqual(['one', 'two', 'three']);
    // Two new files with the same new actuator: neither held it, so the later name gives way.
    const hvac = { hvac: { minOn: '1m', off: { mode: 'off' } } };
    await writeFile(join(dir, 'q.json'), json({ ...pack(rule('q')), actuators: hvac }));
    await writeFile(join(dir, 'p.json'), json({ ...pack(rule('p')), actuators: hvac }));
    await loader.reload();
    expect(loader.problems.get('q.json')).toMatch(/actuators\.hvac: already set in .*p\.json/);
    expect(loader.problems.has('p.json')).toBe(false);
  });

  it('clears the rejection of a rejected file once it is deleted', async () => {
    const dir = await rulesDir({ 'a.json': pack(rule('cool')), 'bad.json': '{ nope' });
    const { loader, lines } = loaderFor(dir, { watch: true, debounceMs: 10 });
    await loader.start();
    expect([...loader.problems.keys()]).toEqual(['bad.json']);
    await unlink(join(dir, 'bad.json'));
    await waitFor(() => loader.problems.size === 0, 'the rejection to be cleared');
    expect(lines.some((l) => l.msg === 'rejected rule file removed')).toBe(true);
    expect(loader.rules.map((r) => r.name)).toEqual(['cool']);
  });

  it('says when the directory holds no rule files, and loads them once a missing directory is created', async () => {
    const parent = await rulesDir({});
    const dir = join(parent, 'rules');
    const { loader, changes, names, lines } = loaderFor(dir, { watch: true, debounceMs: 10, missingPollMs: 20 });
    await loader.start();
    expect(loader.noRuleFiles).toBe(`no rule files in ${dir}: no rules in force (the directory does not exist)`);
    expect(lines.find((l) => l.level === 40 && String(l.msg).startsWith(`no rule files in ${dir}`))).toBeDefined();

    await mkdir(dir);
    await writeFile(join(dir, 'a.json'), json(pack(rule('cool'))));
    await waitFor(() => names(changes.at(-1))?.includes('cool'), 'the rules of the directory created later');
    expect(loader.noRuleFiles).toBeUndefined();
    // And an existing directory emptied says it again.
    await unlink(join(dir, 'a.json'));
    await waitFor(() => loader.noRuleFiles, 'the empty directory to be noticed');
    expect(names(changes.at(-1))).toEqual([]);
  });
});
