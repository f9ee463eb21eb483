/**
 * Actuator names checked across the packs in force: a minimum on/off time set for a name no rule
 * commands, or a rule commanding a near name, or an "off" that no command can match, would
 * load and silently never apply.
 */
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleLoader, type RuleSet } from '../../../gateway/rules/loader.js';
import { REPO_RULES, captureLogs } from '../../helpers/gateway.js';

const dirs: string[] = [];
const loaders: RuleLoader[] = [];
afterEach(async () => {
  for (const l of loaders.splice(0)) await l.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function rulesDir(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-links-'));
  dirs.push(dir);
  await write(dir, files);
  return dir;
}

async function write(dir: string, files: Record<string, unknown>): Promise<void> {
  for (const [name, doc] of Object.entries(files)) await writeFile(join(dir, name), JSON.stringify(doc));
}

async function load(dir: string): Promise<{ loader: RuleLoader; changes: RuleSet[] }> {
  const changes: RuleSet[] = [];
  const loader = new RuleLoader({ dir, log: pino({ level: 'silent' }, captureLogs().stream), watch: false, onChange: (set) => void changes.push(set) });
  loaders.push(loader);
  await loader.start();
  return { loader, changes };
}

const command = (name: string, actuator: string, data: object) => ({
  name,
  kinds: ['humidity'],
  conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 60 }] },
  event: { type: 'command', params: { actuator, data } },
});
const hvac = command('cool', 'hvac', { mode: 'cool' });
const dryOn = command('dry-on', 'dehumidifier', { mode: 'dry' });
const dryOff = command('dry-off', 'dehumidifier', { mode: 'off' });
const discipline = { minOn: '10m', minOff: '5m', off: { mode: 'off' } };

describe('actuator names across packs', () => {
  it('rejects a discipline for an actuator no rule commands, naming the file, the actuator, the ones commanded and the near one', async () => {
    const dir = await rulesDir({
      'climate.json': { actuators: { dehumidifer: discipline }, rules: [dryOn, dryOff] },
      'hvac.json': { rules: [hvac] },
    });
    const { loader, changes } = await load(dir);
    const problem = loader.problems.get('climate.json');
    expect(problem).toContain('climate.json');
    expect(problem).toContain('actuators.dehumidifer: no rule commands an actuator named "dehumidifer", so its minimum on/off time never applies; did you mean "dehumidifier"? (the rules command: dehumidifier, hvac)');
    expect(changes.at(-1)?.rules.map((r) => r.name)).toEqual(['cool']);
  });

  it('takes a discipline in one pack for an actuator the rules of another command, and refuses a change that leaves it commanded by none', async () => {
    const dir = await rulesDir({ 'a-discipline.json': { actuators: { dehumidifier: discipline }, rules: [hvac] }, 'b-climate.json': { rules: [dryOn, dryOff] } });
    const { loader, changes } = await load(dir);
    expect([...loader.problems]).toEqual([]);
    expect(changes.at(-1)?.actuators['dehumidifier']?.minOnMs).toBe(600_000);
    // The actuator renamed in the rules only: the discipline in the other file would no longer apply.
    await write(dir, { 'b-climate.json': { rules: [command('dry-on', 'dehumidifier2', { mode: 'dry' }), command('dry-off', 'dehumidifier2', { mode: 'off' })] } });
    await loader.reload();
    expect(loader.problems.get('b-climate.json')).toMatch(/b-climate\.json: .*no rule would command "dehumidifier" any more, whose minimum on\/off time actuators\.dehumidifier in .*a-discipline\.json sets/);
    // Its last good version stays in force.
    expect(loader.rules.filter((r) => r.file.endsWith('b-climate.json')).map((r) => r.event.params)).toEqual([expect.objectContaining({ actuator: 'dehumidifier' }), expect.objectContaining({ actuator: 'dehumidifier' })]);
  });

  it('says, once, when deleting the pack whose rules commanded an actuator leaves another pack’s discipline of it without effect', async () => {
    const dir = await rulesDir({ 'a-discipline.json': { actuators: { dehumidifier: discipline }, rules: [hvac] }, 'b-climate.json': { rules: [dryOn, dryOff] } });
    const { lines, stream } = captureLogs();
    const loader = new RuleLoader({ dir, log: pino({ level: 'info' }, stream), watch: false, onChange: () => undefined });
    loaders.push(loader);
    await loader.start();
    await unlink(join(dir, 'b-climate.json'));
    await loader.reload();
    await writeFile(join(dir, 'a-discipline.json'), JSON.stringify({ actuators: { dehumidifier: discipline }, rules: [hvac], description: 'touched' }));
    await loader.reload();
    const warned = lines.filter((l) => l.level === 40 && String(l.msg).startsWith('a minimum on/off time no longer applies'));
    expect(warned.map((l) => l.msg)).toEqual([expect.stringMatching(/a-discipline\.json: actuators\.dehumidifier: no rule commands an actuator named "dehumidifier"/)]);
  });

  it('rejects a rule commanding an undisciplined actuator whose name is near a disciplined one, saying which', async () => {
    const dir = await rulesDir({
      'climate.json': { actuators: { dehumidifer: discipline }, rules: [command('dry-on', 'dehumidifer', { mode: 'dry' }), dryOff] },
    });
    const { loader } = await load(dir);
    expect(loader.problems.get('climate.json')).toContain(
      'rules[1] (dry-off).event.params.actuator: "dehumidifier" has no minimum on/off time, but "dehumidifer" (actuators.dehumidifer in',
    );
    expect(loader.problems.get('climate.json')).toContain('did you mean "dehumidifer"?');
  });

  it('takes numbered siblings and unrelated names as different actuators', async () => {
    const dir = await rulesDir({
      'fans.json': { actuators: { fan1: discipline, heater: discipline }, rules: [command('f1', 'fan1', { mode: 'on' }), command('f2', 'fan2', { mode: 'on' }), command('f3', 'fan-3', { mode: 'on' }), command('h', 'heater', { mode: 'heat' }), command('c', 'hvac', { mode: 'cool' })] },
    });
    const { loader } = await load(dir);
    expect([...loader.problems]).toEqual([]);
  });

  it('takes lettered siblings and plurals as different actuators (found by a review: valve_a beside valve_b was refused)', async () => {
    const dir = await rulesDir({
      'valves.json': {
        actuators: { valve_a: discipline, pumpA: discipline, light: { ...discipline, off: { mode: 'off' } } },
        rules: [command('va', 'valve_a', { mode: 'on' }), command('vb', 'valve_b', { mode: 'on' }), command('pa', 'pumpA', { mode: 'on' }), command('pb', 'pumpB', { mode: 'on' }), command('l', 'light', { mode: 'on' }), command('ls', 'lights', { mode: 'on' })],
      },
    });
    const { loader } = await load(dir);
    expect([...loader.problems]).toEqual([]);
  });

  it('does not refuse a discipline because the pack commanding its actuator cannot be read at start (it may be that pack)', async () => {
    const dir = await rulesDir({ 'climate.json': { actuators: { dehumidifier: discipline }, rules: [hvac] }, 'dry.json': '{ "rules": [' });
    const { loader, changes } = await load(dir);
    expect([...loader.problems.keys()]).toEqual(['dry.json']);
    expect(changes.at(-1)?.rules.map((r) => r.name)).toEqual(['cool']);
  });

  it('rejects an "off" that shares no field with the commands to its actuator, naming the fields they use', async () => {
    const dir = await rulesDir({ 'climate.json': { actuators: { dehumidifier: { ...discipline, off: { state: 'off' } } }, rules: [dryOn, dryOff] } });
    const { loader } = await load(dir);
    expect(loader.problems.get('climate.json')).toContain(
      'actuators.dehumidifier.off: {"state":"off"} shares no field with the commands the rules send to dehumidifier (they set: mode), so it never tells on from off',
    );
  });

  it('still loads the shipped packs and every fixture pack of the tests', async () => {
    const fixtures = resolve(import.meta.dirname, '..', '..', 'fixtures');
    const packDirs = [REPO_RULES, ...(await readdir(fixtures)).filter((d) => d.startsWith('rules-')).map((d) => join(fixtures, d))];
    for (const dir of packDirs) {
      const { loader } = await load(dir);
      expect([dir, [...loader.problems]]).toEqual([dir, []]);
      expect(loader.rules.length).toBeGreaterThan(0);
    }
  });
});
