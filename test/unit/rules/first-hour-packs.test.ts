/**
 * What a first-hour tester wrote into a pack beside the shipped ones (rules/office.json) and saw
 * load without a word: conditions that never hold, a YAML pack, an actuator field no rule sets,
 * and errors that buried the one mistake under schema noise or missed a swapped letter.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { KINDS } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { RuleLoader } from '../../../gateway/rules/loader.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { RulesRuntime } from '../../../gateway/rules/runtime.js';
import { REPO_RULES, captureLogs } from '../../helpers/gateway.js';

const dirs: string[] = [];
const loaders: RuleLoader[] = [];
afterEach(async () => {
  for (const l of loaders.splice(0)) await l.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** The shipped packs, and office.json as given. */
async function packsWithOffice(office: unknown, more: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-office-'));
  dirs.push(dir);
  for (const f of ['hvac.json', 'lighting.json', 'security.json']) await copyFile(join(REPO_RULES, f), join(dir, f));
  await writeFile(join(dir, 'office.json'), JSON.stringify(office));
  for (const [name, text] of Object.entries(more)) await writeFile(join(dir, name), text);
  return dir;
}

async function load(dir: string) {
  const { lines, stream } = captureLogs();
  const loader = new RuleLoader({ dir, log: pino({ level: 'info' }, stream), watch: false, onChange: () => undefined });
  loaders.push(loader);
  await loader.start();
  return { loader, lines, warnings: () => lines.filter((l) => l.level === 40).map((l) => String(l.msg)) };
}

const alertRule = (name: string, condition: object, more: object = {}) => ({
  name,
  kinds: ['motion'],
  conditions: { all: [condition, { fact: 'value', operator: 'equal', value: true }] },
  event: { type: 'alert', params: { severity: 'info', message: 'motion in {{zone}} after hours' } },
  ...more,
});
const AFTER_HOURS = { fact: 'timeOfDay', operator: 'timeBetween', value: ['19:00', '07:00'] };

/** office.json loads good first, then the edit: the edit is rejected naming the field, the good version stays. */
async function rejectedEdit(rule: object): Promise<string> {
  const dir = await packsWithOffice({ rules: [alertRule('office-after-hours', AFTER_HOURS)] });
  const { loader } = await load(dir);
  expect([...loader.problems]).toEqual([]);
  await writeFile(join(dir, 'office.json'), JSON.stringify({ rules: [rule] }));
  await loader.reload();
  expect(loader.rules.find((r) => r.name === 'office-after-hours')?.conditions).toMatchObject({ all: [AFTER_HOURS, expect.anything()] });
  return loader.problems.get('office.json') ?? '(loaded)';
}

/** office.json with this rule: it loads (the rest of the pack stays in force), and the warnings said. */
async function warnedPack(rule: object): Promise<string> {
  const { loader, warnings } = await load(await packsWithOffice({ rules: [rule] }));
  expect([...loader.problems]).toEqual([]);
  expect(loader.rules.some((r) => r.name === (rule as { name: string }).name)).toBe(true);
  return warnings().filter((w) => w.startsWith('a condition whose outcome never changes')).join('\n') || '(no warning)';
}

function motion(clock: ManualClock, n: number): ReadingEvent {
  const timeMs = clock.now();
  const time = new Date(timeMs).toISOString();
  return { id: `r${n}`, type: 'sensor.motion', source: 'hq/f1/m1', time, receivedAt: time, seq: n, site: 'hq', zone: 'f1', device: 'm1', kind: 'motion', value: true, numeric: KINDS.motion.toNumber(true), timeMs, clientId: undefined };
}

describe('conditions on the topic and the clock that never hold load with a warning saying how to write them (refusing them would take the rest of a pack that loaded before out of force)', () => {
  it('hour with timeBetween (a number against "HH:MM"): warned, naming the timeOfDay condition to write, which fires after hours across midnight', async () => {
    const problem = await warnedPack(alertRule('office-after-hours', { fact: 'hour', operator: 'timeBetween', value: ['19:00', '07:00'] }));
    expect(problem).toMatch(/office\.json: rules\[0\] \(office-after-hours\)\.conditions\.all\[0\]\.fact: .*never holds/);
    const suggested = /write (\{"fact":"timeOfDay".*?\})/.exec(problem)?.[1];
    expect(suggested).toBe(JSON.stringify(AFTER_HOURS));

    // What it says to write: an after-hours rule that fires at 22:00 and at 06:59, not at 12:00 nor at 07:00.
    const clock = new ManualClock(new Date(2026, 0, 5, 12, 0).getTime());
    const fired: string[] = [];
    const runtime = new RulesRuntime({ clock, log: pino({ level: 'silent' }), onOutcome: () => undefined, observer: { ran: (r, _wake, f) => f.forEach(() => fired.push(r.id)) } });
    const { rules, actuators } = parsePack('office.json', JSON.stringify({ rules: [alertRule('office-after-hours', JSON.parse(suggested!) as object)] }));
    runtime.use({ rules, actuators });
    // Local times (the gateway's TZ): 12:00 and 22:00 on a Monday, 06:59 and 07:00 the next morning.
    const at = [new Date(2026, 0, 5, 12, 0), new Date(2026, 0, 5, 22, 0), new Date(2026, 0, 6, 6, 59), new Date(2026, 0, 6, 7, 0)];
    for (const [i, t] of at.entries()) {
      clock.advanceTo(t.getTime());
      runtime.onReading(motion(clock, i));
      await runtime.idle();
    }
    expect(fired).toEqual(['r1', 'r2']);
  });

  it('hour between a later and an earlier hour says how to write a window past midnight', async () => {
    const problem = await rejectedEdit(alertRule('office-after-hours', { fact: 'hour', operator: 'between', value: [19, 7] }));
    expect(problem).toContain('.conditions.all[0].value: must be [low, high] with low ≤ high');
    // between includes hour 7 (07:00–07:59): the window that says the same ends at 08:00.
    expect(problem).toContain('write {"fact":"timeOfDay","operator":"timeBetween","value":["19:00","08:00"]} (between includes hour 7, so until 08:00; "07:00" to stop at 7)');
  });

  it('under "not", a condition that never holds is said to always hold (the rule fires on every reading)', async () => {
    const problem = await warnedPack(alertRule('office-not-night', { not: { fact: 'hour', operator: 'timeBetween', value: ['22:00', '06:00'] } }));
    expect(problem).toContain('.conditions.all[0].not.fact: timeBetween compares a time of day "HH:MM"');
    expect(problem).toContain('the condition always holds (under "not")');
    expect(problem).not.toContain('never holds');
  });

  it('weekday with day names: warned, naming the numbers to write', async () => {
    const problem = await warnedPack(alertRule('office-weekend', { fact: 'weekday', operator: 'in', value: ['Sat', 'Sun'] }));
    expect(problem).toContain('rules[0] (office-weekend).conditions.all[0].value[0]: weekday is a number, 0 = Sunday … 6 = Saturday (got "Sat": write 6)');
    expect(problem).toContain('.value[1]: weekday is a number, 0 = Sunday … 6 = Saturday (got "Sun": write 0)');
    expect(await warnedPack(alertRule('office-weekend', { fact: 'weekday', operator: 'equal', value: 7 }))).toContain('.value: weekday is a number, 0 = Sunday … 6 = Saturday (got 7)');
  });

  it('zone with a "/": warned, naming the site and zone conditions to write', async () => {
    const problem = await warnedPack(alertRule('office-f2', { fact: 'zone', operator: 'equal', value: 'hq/f2' }));
    expect(problem).toContain(
      'rules[0] (office-f2).conditions.all[0].value: a zone is one topic segment, without "/" (got "hq/f2"): the condition never holds; site and zone are separate facts: write {"fact":"site","operator":"equal","value":"hq"} and {"fact":"zone","operator":"equal","value":"f2"}',
    );
    expect(await warnedPack(alertRule('office-f2', { fact: 'zone', operator: 'in', value: ['f1', 'hq/f2'] }))).toContain('.value[1]: a zone is one topic segment, without "/" (got "hq/f2")');
  });

  it('the shipped packs and conditions that can hold load with no warning (an hour as a numeric string compares as the engine does: "7" holds at 8)', async () => {
    const ok = [
      { fact: 'hour', operator: 'greaterThanInclusive', value: '7' },
      { fact: 'hour', operator: 'between', value: [8, 18] },
      { fact: 'weekday', operator: 'in', value: [1, 2, 3, 4, 5] },
      { fact: 'zone', operator: 'in', value: ['lobby', 'f1'] },
      { fact: 'site', operator: 'equal', value: 'hq' },
      AFTER_HOURS,
    ];
    const { loader, warnings } = await load(await packsWithOffice({ rules: ok.map((c, i) => alertRule(`ok-${i}`, c)) }));
    expect([...loader.problems]).toEqual([]);
    expect(warnings().filter((w) => w.startsWith('a condition whose outcome never changes'))).toEqual([]);
  });
});

describe('what loads but cannot work is said', () => {
  it('an actuator fact reading a field no rule sets on that actuator is warned of, naming the fields they set', async () => {
    const fanOn = { name: 'fan-on', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 25 }] }, event: { type: 'command', params: { actuator: 'fan', data: { state: 'on' } } } };
    const reads = alertRule('fan-auto', { fact: 'actuator', params: { actuator: 'fan', field: 'mode' }, operator: 'equal', value: 'auto' });
    const { loader, warnings } = await load(await packsWithOffice({ rules: [fanOn, reads] }));
    expect([...loader.problems]).toEqual([]);
    expect(warnings().filter((w) => w.includes('"mode"'))).toEqual([
      expect.stringMatching(/office\.json: rules\[1\] \(fan-auto\)\.conditions\.all\[0\]\.params\.field: no rule sets "mode" on fan \(they set: state\)/),
    ]);
    // hvac's mode is set by the shipped rules: nothing said of the shipped packs.
    expect(warnings().filter((w) => w.includes('hvac'))).toEqual([]);
  });

  it('a YAML (or JSON5, JSONC) pack is warned of by name: only .json packs are read', async () => {
    const dir = await packsWithOffice({ rules: [alertRule('office-after-hours', AFTER_HOURS)] }, { 'extra.yaml': 'rules: []\n', 'more.yml': 'rules: []\n', 'x.jsonc': '{}', 'notes.txt': 'not a pack' });
    const { loader, warnings } = await load(dir);
    const said = warnings().filter((w) => w.includes('only .json'));
    expect(said).toHaveLength(3);
    expect(said[0]).toMatch(/extra\.yaml: not read: only \.json files are rule packs/);
    expect(said.join('\n')).toContain('more.yml');
    expect(said.join('\n')).toContain('x.jsonc');
    await loader.reload();
    expect(warnings().filter((w) => w.includes('only .json'))).toHaveLength(3);
  });
});

describe('errors point at the one mistake', () => {
  const command = (event: object, more: object = {}) => ({ name: 'fan-on', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 25 }] }, event, ...more });

  it('clearWhen on the rule rather than in event.params says where it goes', async () => {
    const rule = { ...alertRule('door-open', { fact: 'armed', operator: 'equal', value: false }), clearWhen: { all: [{ fact: 'value', operator: 'equal', value: false }] } };
    expect(await rejectedEdit(rule)).toMatch(/rules\[0\] \(door-open\): unknown property "clearWhen": did you mean event\.params\.clearWhen\?$/);
  });

  it('a misspelt event type is the one error, with "did you mean"', async () => {
    const problem = await rejectedEdit(command({ type: 'commnd', params: { actuator: 'fan', data: { state: 'on' } } }));
    expect(problem).toMatch(/^GW_ERR_RULE_FILE: .*office\.json: rules\[0\] \(fan-on\)\.event\.type: must be one of "command", "alert" \(got "commnd"\): did you mean "command"\?$/);
  });

  it('"did you mean" counts swapped letters as one edit (fna for fan)', async () => {
    const fan = command({ type: 'command', params: { actuator: 'fan', data: { state: 'on' } } });
    const dir = await packsWithOffice({ rules: [fan], actuators: { fna: { minOn: '1m', off: { state: 'off' } } } });
    const { loader } = await load(dir);
    expect(loader.problems.get('office.json')).toContain('actuators.fna: no rule commands an actuator named "fna", so its minimum on/off time never applies; did you mean "fan"?');
  });
});
