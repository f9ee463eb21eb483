/**
 * Rules never slow ingest: readings per second through a real gateway (MQTT → ingest → spool
 * → rules, InfluxDB behind) with the 3 shipped packs, and with 200 rules, in the same run,
 * alternating. `npm run bench:rules` prints it; `npm run bench` calls runRulesBench().
 *
 * The 200 rules are a building's: the shipped packs, per-zone rules for 40 zones (CO2 by
 * window, humidity held for, night setback by time of day, power peaks), and rules for the
 * whole site. Each run is a fresh gateway, warmed up, then timed from the first publish until
 * every reading has been through the rules.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { loadSettings } from '../gateway/config/settings.js';
import { Gateway } from '../gateway/gateway.js';
import type { BuiltinKind as Kind } from '../gateway/core/kinds.js';
import { createLogger } from '../gateway/observability/log.js';
import { pingInflux, startInfluxd, type InfluxdProcess } from '../gateway/storage/influxd.js';

export interface RulesBenchOptions {
  /** An InfluxDB 1.x to write to; one is started in a temporary directory when absent. */
  readonly influxUrl?: string;
  /** Readings timed per run (default 20,000). */
  readonly readings?: number;
  /** Runs per rule set, alternating shipped/200 (default 3); the median counts. */
  readonly rounds?: number;
  /** Total rules of the large set (default 200). */
  readonly manyRules?: number;
  readonly zones?: number;
  /** MQTT connections publishing at once (default 4). */
  readonly clients?: number;
  readonly onProgress?: (line: string) => void;
}

export interface RulesBenchRun {
  readonly ruleSet: 'shipped' | 'many';
  readonly rules: number;
  readonly readings: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly commandsAndAlerts: number;
}

export interface RulesBenchResult {
  readonly runs: readonly RulesBenchRun[];
  readonly shipped: { readonly rules: number; readonly eventsPerSecond: number };
  readonly many: { readonly rules: number; readonly eventsPerSecond: number };
  /** many ÷ shipped (acceptance: at least 0.5). */
  readonly ratio: number;
  readonly machine: { readonly cpus: number; readonly node: string };
}

const REPO_RULES = resolve(import.meta.dirname, '..', 'rules');
const SHIPPED = ['hvac.json', 'lighting.json', 'security.json'];

/** A building's mix of readings: mostly climate and presence. */
const MIX: readonly Kind[] = ['temperature', 'temperature', 'temperature', 'humidity', 'co2', 'illuminance', 'occupancy', 'motion', 'motion', 'contact', 'power', 'battery', 'keypad', 'smoke'];

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function value(kind: Kind, r: () => number): number | boolean | string {
  switch (kind) {
    case 'temperature':
      return Math.round((19 + r() * 9) * 10) / 10;
    case 'humidity':
      return Math.round(40 + r() * 35);
    case 'co2':
      return Math.round(500 + r() * 900);
    case 'illuminance':
      return Math.round(r() * 800);
    case 'occupancy':
    case 'motion':
    case 'contact':
      return r() < 0.5;
    case 'smoke':
      return false;
    case 'power':
      return Math.round(r() * 4000);
    case 'battery':
      return Math.round(5 + r() * 95);
    case 'keypad':
      return r() < 0.2 ? 'fail' : 'ok';
  }
}

function messages(count: number, zones: number, seed: number): { topic: string; payload: string }[] {
  const r = random(seed);
  return Array.from({ length: count }, () => {
    const kind = MIX[Math.floor(r() * MIX.length)]!;
    const zone = `z${Math.floor(r() * zones)}`;
    const device = `d${Math.floor(r() * 5)}-${kind}`;
    return { topic: `sensors/b1/${zone}/${device}/${kind}`, payload: JSON.stringify({ value: value(kind, r) }) };
  });
}

/** Rules a building adds to the shipped packs: per zone, and for the whole site. */
export function generatedRules(count: number, zones: number): unknown[] {
  const rules: unknown[] = [];
  const alert = (message: string) => ({ type: 'alert', params: { severity: 'info', message, repeatAfterSeconds: 600 } });
  const command = (actuator: string, data: Record<string, unknown>) => ({ type: 'command', params: { actuator, data } });
  const templates = [
    (z: string, i: number) => ({ kinds: ['co2'], conditions: { all: [{ fact: 'zone', operator: 'equal', value: z }, { fact: 'window', params: { agg: 'avg', within: '10m' }, operator: 'greaterThan', value: 900 + (i % 7) * 20 }] }, event: command('boost', { level: 2 }) }),
    (z: string, i: number) => ({ kinds: ['humidity'], conditions: { all: [{ fact: 'zone', operator: 'equal', value: z }, { fact: 'heldFor', params: { operator: 'greaterThan', value: 65 + (i % 5), for: '10m' }, operator: 'equal', value: true }] }, event: command('dehumidifier', { state: 'on' }) }),
    (z: string, i: number) => ({ kinds: ['temperature'], conditions: { all: [{ fact: 'zone', operator: 'equal', value: z }, { fact: 'timeOfDay', operator: 'timeBetween', value: ['22:00', '06:00'] }, { fact: 'value', operator: 'lessThan', value: 16 + (i % 3) }] }, event: command('setback', { setpoint: 17 }) }),
    (z: string, i: number) => ({ kinds: ['power'], conditions: { all: [{ fact: 'zone', operator: 'in', value: [z] }, { fact: 'window', params: { agg: 'max', within: '5m' }, operator: 'greaterThan', value: 3500 + i * 5 }] }, event: alert(`power peak in ${z}`) }),
  ];
  const site = [
    { kinds: ['battery'], conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 10 }] }, event: alert('{{device}} battery low') },
    { kinds: ['power'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 3990 }] }, event: alert('{{device}} draws a lot') },
    { kinds: ['humidity'], conditions: { all: [{ fact: 'window', params: { agg: 'max', within: '15m', scope: 'site' }, operator: 'greaterThan', value: 90 }] }, event: alert('humidity high on site') },
    { kinds: ['co2'], conditions: { all: [{ fact: 'rateOfChange', params: { within: '5m' }, operator: 'greaterThan', value: 200 }] }, event: alert('co2 rising at {{device}}') },
    { kinds: ['illuminance'], conditions: { all: [{ fact: 'hour', operator: 'between', value: [0, 5] }, { fact: 'value', operator: 'greaterThan', value: 700 }] }, event: alert('lights on at night in {{zone}}') },
    { kinds: ['motion'], conditions: { all: [{ fact: 'value', operator: 'equal', value: true }, { fact: 'weekday', operator: 'in', value: [0, 6] }, { fact: 'armed', operator: 'equal', value: false }] }, event: alert('weekend motion in {{zone}}') },
  ];
  for (let i = 0; rules.length < count; i++) {
    const general = site[i % site.length]!;
    const rule = i < zones * templates.length ? templates[i % templates.length]!(`z${Math.floor(i / templates.length)}`, i) : general;
    rules.push({ name: `bench-${i}`, ...rule });
  }
  return rules;
}

async function runOnce(ruleSet: 'shipped' | 'many', o: Required<Omit<RulesBenchOptions, 'onProgress' | 'influxUrl'>> & { influxUrl: string }, seed: number): Promise<RulesBenchRun> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-rules-bench-'));
  const rulesDir = join(dir, 'rules');
  await cp(REPO_RULES, rulesDir, { recursive: true, filter: (src) => !src.includes(`${join(REPO_RULES, 'tests')}`) && !src.endsWith('.ts') });
  let rules = 0;
  for (const f of SHIPPED) rules += (JSON.parse(await readFile(join(rulesDir, f), 'utf8')) as { rules: unknown[] }).rules.length;
  if (ruleSet === 'many') {
    const extra = generatedRules(o.manyRules - rules, o.zones);
    await writeFile(join(rulesDir, 'building.json'), JSON.stringify({ name: 'building', rules: extra }));
    rules += extra.length;
  }
  const settings = loadSettings({
    MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', INFLUX_URL: o.influxUrl, INFLUX_DB: `bench_rules_${seed}`,
    RULES_DIR: rulesDir, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'error', PUBLISH_RATE: '0',
  });
  const gateway = new Gateway(settings, { log: createLogger('error') });
  const clients: MqttClient[] = [];
  try {
    const running = await gateway.start();
    let seen = 0;
    let outcomes = 0;
    gateway.bus.on('reading', () => void seen++);
    gateway.bus.on('command', () => void outcomes++);
    gateway.bus.on('alert', () => void outcomes++);
    for (let i = 0; i < o.clients; i++) clients.push(await mqtt.connectAsync(`mqtt://127.0.0.1:${running.ports.mqtt}`, { clientId: `bench-${seed}-${i}`, reconnectPeriod: 0 }));
    const send = async (list: { topic: string; payload: string }[]) => {
      const target = seen + list.length;
      // Each client keeps a window of publishes in flight, as a busy device gateway would.
      await Promise.all(
        clients.map(async (c, i) => {
          const mine = list.filter((_, j) => j % clients.length === i);
          for (let k = 0; k < mine.length; k += 250) await Promise.all(mine.slice(k, k + 250).map((m) => c.publishAsync(m.topic, m.payload, { qos: 0 })));
        }),
      );
      while (seen < target) await new Promise((r) => setTimeout(r, 2));
      await gateway.rules.idle();
    };
    await send(messages(Math.min(5000, o.readings), o.zones, seed + 1));
    const timed = messages(o.readings, o.zones, seed);
    const before = outcomes;
    const start = performance.now();
    await send(timed);
    const seconds = (performance.now() - start) / 1000;
    return { ruleSet, rules, readings: o.readings, seconds, eventsPerSecond: o.readings / seconds, commandsAndAlerts: outcomes - before };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
    await gateway.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export async function runRulesBench(opts: RulesBenchOptions = {}): Promise<RulesBenchResult> {
  let influxd: InfluxdProcess | undefined;
  let influxDir: string | undefined;
  let influxUrl = opts.influxUrl;
  if (!influxUrl) {
    influxDir = await mkdtemp(join(tmpdir(), 'gw-rules-bench-influx-'));
    influxd = await startInfluxd({ dataDir: influxDir });
    influxUrl = influxd.url;
  } else if (!(await pingInflux(influxUrl))) throw new Error(`no InfluxDB answers at ${influxUrl}`);
  const o = { influxUrl, readings: opts.readings ?? 20_000, rounds: opts.rounds ?? 3, manyRules: opts.manyRules ?? 200, zones: opts.zones ?? 40, clients: opts.clients ?? 4 };
  const runs: RulesBenchRun[] = [];
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const set of ['shipped', 'many'] as const) {
        const run = await runOnce(set, o, 1000 * round + (set === 'many' ? 1 : 0) + 7);
        runs.push(run);
        opts.onProgress?.(`round ${round + 1}/${o.rounds}: ${set.padEnd(7)} ${String(run.rules).padStart(3)} rules  ${Math.round(run.eventsPerSecond).toLocaleString('en')} readings/s  (${run.readings} in ${run.seconds.toFixed(2)} s, ${run.commandsAndAlerts} commands and alerts)`);
      }
    }
  } finally {
    await influxd?.stop();
    if (influxDir) await rm(influxDir, { recursive: true, force: true });
  }
  const summary = (set: 'shipped' | 'many') => ({ rules: runs.find((r) => r.ruleSet === set)?.rules ?? 0, eventsPerSecond: median(runs.filter((r) => r.ruleSet === set).map((r) => r.eventsPerSecond)) });
  const shipped = summary('shipped');
  const many = summary('many');
  return { runs, shipped, many, ratio: many.eventsPerSecond / shipped.eventsPerSecond, machine: { cpus: cpus().length, node: process.version } };
}
