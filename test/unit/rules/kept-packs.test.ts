/** The last good version of each rule pack, kept in DATA_DIR: what a start falls back on, and what it does not bring back. */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleLoader } from '../../../gateway/rules/loader.js';
import { captureLogs } from '../../helpers/gateway.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const rule = (name: string, value = 26) => ({
  name,
  kinds: ['temperature'],
  conditions: { all: [{ fact: 'value', operator: 'greaterThan', value }] },
  event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'cool' } } },
});
const json = (rules: object[]): string => JSON.stringify({ rules });

async function setUp(): Promise<{ rulesDir: string; keptDir: string }> {
  const parent = await mkdtemp(join(tmpdir(), 'gw-kept-'));
  dirs.push(parent);
  const rulesDir = join(parent, 'rules');
  await mkdir(rulesDir);
  return { rulesDir, keptDir: join(parent, 'data', 'rules-kept') };
}

/** One run of the gateway's loader: loads once, then stops (a start). */
async function run(rulesDir: string, keptDir: string) {
  const { lines, stream } = captureLogs();
  const loader = new RuleLoader({ dir: rulesDir, keptDir, log: pino({ level: 'info' }, stream), watch: false, onChange: () => undefined });
  await loader.start();
  await loader.stop();
  return { loader, lines, names: loader.rules.map((r) => r.name) };
}

describe('kept copies of rule packs', () => {
  it('keeps what was accepted, and puts it in force at a start where the file is rejected, saying so', async () => {
    const { rulesDir, keptDir } = await setUp();
    await writeFile(join(rulesDir, 'a.json'), json([rule('cool')]));
    await writeFile(join(rulesDir, 'b.json'), json([rule('warm', 20)]));
    expect((await run(rulesDir, keptDir)).names).toEqual(['cool', 'warm']);
    expect((await readdir(keptDir)).sort()).toEqual(['a.json', 'b.json']);

    await writeFile(join(rulesDir, 'a.json'), '{ "rules": [,] }');
    const { loader, lines, names } = await run(rulesDir, keptDir);
    expect(names).toEqual(['cool', 'warm']);
    expect([...loader.keptCopies.keys()]).toEqual(['a.json']);
    expect(loader.problems.get('a.json')).toContain('kept copy');
    const said = lines.find((l) => l.code === 'GW_ERR_RULE_FILE');
    expect(said).toMatchObject({ level: 50, rulesKept: 1, keptCopyAcceptedAt: expect.any(String) });
    // The copy is still the last good version, not the broken file.
    expect(await readFile(join(keptDir, 'a.json'), 'utf8')).toBe(json([rule('cool')]));
  });

  it('does not bring back a pack deleted on purpose, and forgets its copy', async () => {
    const { rulesDir, keptDir } = await setUp();
    await writeFile(join(rulesDir, 'a.json'), json([rule('cool')]));
    await writeFile(join(rulesDir, 'b.json'), json([rule('warm', 20)]));
    await run(rulesDir, keptDir);
    await rm(join(rulesDir, 'a.json'));
    expect((await run(rulesDir, keptDir)).names).toEqual(['warm']);
    expect(await readdir(keptDir)).toEqual(['b.json']);
    // Put back broken later: nothing to fall back on.
    await writeFile(join(rulesDir, 'a.json'), '{ nope');
    const { loader, names } = await run(rulesDir, keptDir);
    expect(names).toEqual(['warm']);
    expect(loader.keptCopies.size).toBe(0);
  });

  it('removes no copy while RULES_DIR is missing (a mount not there yet), and uses it once the directory holds the broken file', async () => {
    const { rulesDir, keptDir } = await setUp();
    await writeFile(join(rulesDir, 'a.json'), json([rule('cool')]));
    await run(rulesDir, keptDir);
    await rm(rulesDir, { recursive: true });
    expect((await run(rulesDir, keptDir)).names).toEqual([]);
    expect(await readdir(keptDir)).toEqual(['a.json']);
    await mkdir(rulesDir);
    await writeFile(join(rulesDir, 'a.json'), '{ nope');
    expect((await run(rulesDir, keptDir)).names).toEqual(['cool']);
  });

  it('does not stand in a copy that clashes with the packs on disk (its rule moved to another file)', async () => {
    const { rulesDir, keptDir } = await setUp();
    await writeFile(join(rulesDir, 'a.json'), json([rule('cool')]));
    await run(rulesDir, keptDir);
    await writeFile(join(rulesDir, 'a.json'), '{ nope');
    await writeFile(join(rulesDir, 'b.json'), json([rule('cool', 28)]));
    const { loader, names } = await run(rulesDir, keptDir);
    expect(names).toEqual(['cool']);
    expect(loader.ruleSet.rules[0]?.conditions).toMatchObject({ all: [{ value: 28 }] });
    expect(loader.keptCopies.size).toBe(0);
    expect([...loader.problems.keys()]).toEqual(['a.json']);
  });

  it('stands in for a pack rejected at a start by the checks across packs too (a misspelt actuator discipline)', async () => {
    const { rulesDir, keptDir } = await setUp();
    const discipline = { minOn: '5m', minOff: '3m', off: { mode: 'off' } };
    await writeFile(join(rulesDir, 'a.json'), JSON.stringify({ rules: [rule('cool')], actuators: { hvac: discipline } }));
    await run(rulesDir, keptDir);
    await writeFile(join(rulesDir, 'a.json'), JSON.stringify({ rules: [rule('cool')], actuators: { hvca: discipline } }));
    const { loader, names } = await run(rulesDir, keptDir);
    expect(loader.problems.get('a.json')).toContain('hvca');
    expect(names).toEqual(['cool']);
    expect(Object.keys(loader.ruleSet.actuators)).toEqual(['hvac']);
    expect([...loader.keptCopies.keys()]).toEqual(['a.json']);
  });
});
