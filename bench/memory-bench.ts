/**
 * What remembering costs (issue 11), for `npm run bench`:
 *
 * - the rebuild at start: the history the shipped packs need (their longest duration plus a
 *   margin) written to InfluxDB as the simulator's default fleet makes it (20 devices, 50
 *   readings/s), then read back and replayed through the rules as a dry run, timed; reported as
 *   seconds per hour of history kept, and how much of it is reading InfluxDB;
 * - confirmation tracking on the hot path: commands through the rules runtime (no I/O) to
 *   actuators that do not report their state (sent, nothing more) and to actuators that confirm
 *   each command at once (a saga, a timer, a matching report, two steps); the difference per command.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { ActuatorStateEvent, ReadingEvent } from '../gateway/core/events.js';
import { KINDS } from '../gateway/core/kinds.js';
import { ManualClock } from '../gateway/core/manual-clock.js';
import { ReplayClock } from '../gateway/core/replay-clock.js';
import { RuleLoader, type RuleSet } from '../gateway/rules/loader.js';
import { parsePack } from '../gateway/rules/pack.js';
import { lookbackMs, rebuild } from '../gateway/rules/rebuild.js';
import { DEFAULT_COMMAND_TIMES, RulesRuntime } from '../gateway/rules/runtime.js';
import { InfluxHistory } from '../gateway/storage/history.js';
import { makeFleet, nextReading, seededRandom } from '../simulators/devices.js';

const REPO_RULES = resolve(import.meta.dirname, '..', 'rules');

export interface RebuildBenchResult {
  readonly devices: number;
  readonly rate: number;
  /** The history the rebuild replayed (the shipped packs' lookback). */
  readonly windowMinutes: number;
  readonly readings: number;
  readonly seconds: number;
  /** Of which reading InfluxDB (a separate pass over the same window). */
  readonly readSeconds: number;
  readonly secondsPerHour: number;
  readonly readingsPerSecond: number;
}

async function influxQuery(url: string, q: string): Promise<void> {
  const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
  if (!res.ok) throw new Error(`InfluxDB: ${res.status} ${await res.text()}`);
}

/** Writes `minutes` of the simulator's normal day, ending at `endMs`, as the gateway stores readings. */
async function writeHistory(url: string, db: string, devices: number, rate: number, endMs: number, minutes: number): Promise<number> {
  const random = seededRandom(11);
  const fleet = makeFleet({ devices, random, prefix: 'mem' });
  const startMs = endMs - minutes * 60_000;
  const step = 1000 / rate;
  let lines: string[] = [];
  let written = 0;
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
    if (res.status !== 204) throw new Error(`InfluxDB write: ${res.status} ${await res.text()}`);
    written += lines.length;
    lines = [];
  };
  let i = 0;
  for (let t = startMs; t < endMs; t += step, i++) {
    const d = fleet[i % fleet.length]!;
    const r = nextReading(d, Math.floor(t), 'normal', random, false);
    const { value } = JSON.parse(r.payload) as { value: number | boolean | string };
    lines.push(`${r.kind},device=${d.id},site=${d.site},zone=${d.zone} value=${KINDS[r.kind].toNumber(value)},seq=${d.seq}i,event_id="${r.id}" ${r.ts}`);
    if (lines.length >= 5000) await flush();
  }
  await flush();
  return written;
}

async function shippedRules(): Promise<RuleSet> {
  let set: RuleSet | undefined;
  const loader = new RuleLoader({ dir: REPO_RULES, log: pino({ level: 'silent' }), watch: false, onChange: (s) => (set = s) });
  await loader.start();
  if (!set) throw new Error('no rules in rules/');
  return set;
}

export async function runRebuildBench(o: { influxUrl: string; devices?: number; rate?: number; onProgress?: (line: string) => void }): Promise<RebuildBenchResult> {
  const devices = o.devices ?? 20;
  const rate = o.rate ?? 50;
  const set = await shippedRules();
  const windowMs = lookbackMs(set, DEFAULT_COMMAND_TIMES);
  const db = `bench_rebuild_${randomBytes(4).toString('hex')}`;
  const endMs = Date.now();
  await influxQuery(o.influxUrl, `CREATE DATABASE "${db}"`);
  try {
    o.onProgress?.(`writing ${Math.round(windowMs / 60_000)} min of history at ${rate} readings/s from ${devices} devices`);
    await writeHistory(o.influxUrl, db, devices, rate, endMs, windowMs / 60_000 + 1);
    const history = new InfluxHistory({ url: o.influxUrl, database: db });
    // Reading alone, over the same window.
    const readStart = performance.now();
    let readCount = 0;
    for await (const items of history.read({ fromMs: endMs - windowMs, toMs: endMs })) readCount += items.length;
    const readSeconds = (performance.now() - readStart) / 1000;
    o.onProgress?.(`read ${readCount} events back in ${readSeconds.toFixed(2)} s; rebuilding`);
    // The rebuild as the gateway does it at start, its live clock at the end of the history.
    const live = new ManualClock(endMs);
    const clock = new ReplayClock(live);
    const log = pino({ level: 'silent' });
    const runtime = new RulesRuntime({ clock, log, onOutcome: () => undefined });
    runtime.use(set);
    const result = await rebuild({ history, runtime, clock, now: () => live.now(), log, waitMs: 0, commandTimes: DEFAULT_COMMAND_TIMES });
    await runtime.stop();
    if (!result.ok) throw new Error(`the rebuild failed: ${result.problem ?? ''}`);
    const seconds = result.tookMs / 1000;
    const readings = result.counts['readings'] ?? 0;
    return {
      devices,
      rate,
      windowMinutes: (result.toMs - result.fromMs) / 60_000,
      readings,
      seconds,
      readSeconds,
      secondsPerHour: seconds / ((result.toMs - result.fromMs) / 3_600_000),
      readingsPerSecond: readings / seconds,
    };
  } finally {
    await influxQuery(o.influxUrl, `DROP DATABASE "${db}"`).catch(() => undefined);
  }
}

export interface ConfirmationBenchResult {
  readonly commands: number;
  /** µs per command through the runtime to actuators that never report (a `sent` step only). */
  readonly untrackedUs: number;
  /** µs per command to actuators that confirm each one (saga, timer, report, `sent` and `confirmed`). */
  readonly trackedUs: number;
  readonly overheadUs: number;
}

/** One rule that switches a relay on every reading (1: on, 0: off), no minimum on/off time. */
const TOGGLE = parsePack(
  'bench.json',
  JSON.stringify({
    rules: [
      { name: 'relay-on', kinds: ['power'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 0 }] }, event: { type: 'command', params: { actuator: 'relay', data: { state: 'on' } } } },
      { name: 'relay-off', kinds: ['power'], conditions: { all: [{ fact: 'value', operator: 'lessThanInclusive', value: 0 }] }, event: { type: 'command', params: { actuator: 'relay', data: { state: 'off' } } } },
    ],
  }),
);

async function commandsPerRun(commands: number, zones: number, tracked: boolean): Promise<number> {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  let sent = 0;
  const self: { runtime?: RulesRuntime } = {};
  const reportFor = (zone: string, state: Record<string, unknown>): ActuatorStateEvent => ({ id: `s${sent}`, site: 'b', zone, actuator: 'relay', state, device: `relay-${zone}`, time: '', timeMs: clock.now(), clientId: undefined });
  const runtime = new RulesRuntime({
    clock,
    log: pino({ level: 'silent' }),
    onOutcome: (o) => {
      if (o.kind !== 'command') return;
      sent++;
      // The actuator confirms at once: what a saga costs when all goes well.
      if (tracked) self.runtime?.onActuatorState(reportFor(o.zone, o.cloudEvent.data));
    },
    onStatus: () => undefined,
  });
  self.runtime = runtime;
  runtime.use({ rules: TOGGLE.rules, actuators: TOGGLE.actuators });
  if (tracked) for (let z = 0; z < zones; z++) runtime.onActuatorState(reportFor(`z${z}`, { state: 'off' }));
  await runtime.idle();
  const readings: ReadingEvent[] = Array.from({ length: commands }, (_, i) => {
    const value = Math.floor(i / zones) % 2 === 0 ? 1 : 0;
    const zone = `z${i % zones}`;
    return { id: `r${i}`, type: 'sensor.power', source: `b/${zone}/m`, time: '', receivedAt: '', seq: i, site: 'b', zone, device: 'm', kind: 'power', value, numeric: value, timeMs: clock.now(), clientId: undefined };
  });
  const start = performance.now();
  for (const r of readings) runtime.onReading(r);
  await runtime.idle();
  const us = ((performance.now() - start) * 1000) / Math.max(1, sent);
  await runtime.stop();
  return us;
}

export async function runConfirmationBench(o: { commands?: number; rounds?: number } = {}): Promise<ConfirmationBenchResult> {
  const commands = o.commands ?? 20_000;
  const rounds = o.rounds ?? 3;
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // Warm up both paths, then alternate so a drift of the machine hits both alike.
  await commandsPerRun(2000, 50, false);
  await commandsPerRun(2000, 50, true);
  const untracked: number[] = [];
  const tracked: number[] = [];
  for (let i = 0; i < rounds; i++) {
    untracked.push(await commandsPerRun(commands, 50, false));
    tracked.push(await commandsPerRun(commands, 50, true));
  }
  const u = median(untracked);
  const t = median(tracked);
  return { commands, untrackedUs: u, trackedUs: t, overheadUs: t - u };
}
