/** Replaying stored readings through the rules, against the real InfluxDB, with known data. */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { replay, type ReplayFiring } from '../../gateway/lab/replay.js';
import { REPO_RULES } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TSX = resolve(ROOT, 'node_modules', '.bin', 'tsx');
const url = inject('influxUrl');
const db = uniqueDb('replay');
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const at = (ms: number) => T0 + ms;
const s = 1000;
const m = 60_000;

/** DESIGN.md's layout, as the gateway stores it. */
const lines = [
  `zone_state,site=hq,zone=vault armed=true,event_id="z-1" ${at(-60 * m)}`,
  `temperature,device=t1,site=hq,zone=f1 value=27,seq=1i,event_id="t1-1" ${at(0)}`,
  `smoke,device=smk-1,site=hq,zone=f1 value=0,event_id="s-1" ${at(0)}`,
  `motion,device=pir-3,site=hq,zone=f3 value=1,event_id="m-1" ${at(30 * s)}`,
  `temperature,device=t2,site=hq,zone=f2 value=31,event_id="t2-1" ${at(1 * m)}`,
  `temperature,device=t1,site=hq,zone=f1 value=27.2,seq=2i,event_id="t1-2" ${at(2 * m)}`,
  `contact,device=door-2,site=hq,zone=vault value=1,event_id="c-1" ${at(3 * m)}`,
  `contact,device=door-2,site=hq,zone=vault value=0,event_id="c-2" ${at(4 * m)}`,
  `temperature,device=t1,site=hq,zone=f1 value=27.4,seq=3i,event_id="t1-3" ${at(4 * m)}`,
  `keypad,device=kp-1,site=hq,zone=lobby value=0,event_id="k-1" ${at(6 * m)}`,
  `keypad,device=kp-1,site=hq,zone=lobby value=0,event_id="k-2" ${at(6 * m + 20 * s)}`,
  `keypad,device=kp-1,site=hq,zone=lobby value=0,event_id="k-3" ${at(6 * m + 40 * s)}`,
  `temperature,device=t9,site=plant,zone=z1 value=35,event_id="p-1" ${at(8 * m)}`,
];

const brief = (f: ReplayFiring) => [f.timeMs - T0, f.type, f.topic, f.rule, f.correlationId];

beforeAll(async () => {
  await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${db}"` }) });
  const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
  expect(res.status).toBe(204);
});

describe('rules replay', () => {
  it('lists what the shipped packs would have fired over a range, timers included, in time order', async () => {
    const progress: number[] = [];
    const summary = await replay({ influxUrl: url, database: db, fromMs: at(0), toMs: at(20 * m), rulesDir: REPO_RULES, chunkMs: 5 * m, site: 'hq', onProgress: (p) => progress.push(p.atMs - T0) });
    expect(summary.firings.map(brief)).toEqual([
      [30 * s, 'command', 'commands/hq/f3/lights', 'lights-on-occupied', 'm-1'],
      [1 * m, 'command', 'commands/hq/f2/hvac', 'hvac-cool', 't2-1'],
      [3 * m, 'alert', 'alerts/hq/warning', 'intrusion-door', 'c-1'],
      [5 * m, 'command', 'commands/hq/f1/hvac', 'hvac-cool-held', 't1-3'],
      [6 * m + 40 * s, 'alert', 'alerts/hq/warning', 'keypad-failures', 'k-3'],
      [10 * m + 30 * s, 'command', 'commands/hq/f3/lights', 'lights-off-no-motion', 'm-1'],
    ]);
    expect(summary.firings[3]?.data).toEqual({ mode: 'cool', setpoint: 22 });
    expect(summary.readings).toBe(11);
    expect(summary.byRule).toMatchObject({ 'hvac-cool': 1, 'lights-on-occupied': 1 });
    expect(progress).toEqual([5 * m, 10 * m, 15 * m, 20 * m]);
  });

  it('starts from nothing at --from, unless a warm-up replays the time before it', async () => {
    const cold = await replay({ influxUrl: url, database: db, fromMs: at(2 * m), toMs: at(20 * m), rulesDir: REPO_RULES, ruleFiles: ['hvac.json'] });
    expect(cold.firings.map(brief)).toEqual([[7 * m, 'command', 'commands/hq/f1/hvac', 'hvac-cool-held', 't1-3'], [8 * m, 'command', 'commands/plant/z1/hvac', 'hvac-cool', 'p-1']]);
    const warm = await replay({ influxUrl: url, database: db, fromMs: at(2 * m), toMs: at(20 * m), warmupMs: 5 * m, rulesDir: REPO_RULES, ruleFiles: ['hvac.json'] });
    expect(warm.firings.map(brief)).toEqual([[5 * m, 'command', 'commands/hq/f1/hvac', 'hvac-cool-held', 't1-3'], [8 * m, 'command', 'commands/plant/z1/hvac', 'hvac-cool', 'p-1']]);
  });

  it('npm run rules:replay prints the firings and a summary, or JSON', async () => {
    const run = promisify(execFile);
    const args = ['gateway/cli/rules-replay.ts', '--influx', url, '--db', db, '--from', new Date(at(0)).toISOString(), '--to', new Date(at(20 * m)).toISOString(), '--packs', 'hvac.json'];
    const text = await run(TSX, args, { cwd: ROOT });
    expect(text.stdout.split('\n').filter((l) => l.startsWith('2026-'))).toEqual([
      '2026-01-05T09:01:00.000Z  command  commands/hq/f2/hvac  {"mode":"cool","setpoint":22}  by hvac-cool  ← t2-1',
      '2026-01-05T09:05:00.000Z  command  commands/hq/f1/hvac  {"mode":"cool","setpoint":22}  by hvac-cool-held  ← t1-3',
      '2026-01-05T09:08:00.000Z  command  commands/plant/z1/hvac  {"mode":"cool","setpoint":22}  by hvac-cool  ← p-1',
    ]);
    expect(text.stdout).toContain('12 readings from 2026-01-05T09:00:00.000Z to 2026-01-05T09:20:00.000Z (dry run: nothing was published or stored)');
    expect(text.stdout).toContain('would have fired 3 time(s): hvac-cool ×2, hvac-cool-held ×1');
    const json = JSON.parse((await run(TSX, [...args, '--json'], { cwd: ROOT })).stdout) as { readings: number; firings: ReplayFiring[] };
    expect(json.readings).toBe(12);
    expect(json.firings.map((f) => f.rule)).toEqual(['hvac-cool', 'hvac-cool-held', 'hvac-cool']);
  });

  it('says why when it cannot run: an empty range, InfluxDB unreachable', async () => {
    const run = (args: string[]) => promisify(execFile)(TSX, ['gateway/cli/rules-replay.ts', ...args], { cwd: ROOT }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    const empty = await run(['--influx', url, '--db', db, '--from', '2026-01-05T10:00:00Z', '--to', '2026-01-05T09:00:00Z']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('GW_ERR_REPLAY: the range is empty');
    const away = await run(['--influx', 'http://127.0.0.1:9', '--db', db, '--from', '1h']);
    expect(away.code).toBe(1);
    expect(away.stderr).toContain('GW_ERR_INFLUX_UNREACHABLE');
    // Every reason it could not run is GW_ERR_REPLAY, as the README lists it (an outside tester got GW_ERR_HISTORY alone).
    expect(away.stderr).toMatch(/^GW_ERR_REPLAY: /m);
    const noDb = await run(['--influx', url, '--db', 'no_such_db', '--from', '1h']);
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toMatch(/^GW_ERR_REPLAY: .*no_such_db/m);
  });
});
