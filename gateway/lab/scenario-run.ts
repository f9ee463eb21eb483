import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { pino, type Logger } from 'pino';
import type { HeldBack, Lost } from '../rules/held-back.js';
import { unknownRules } from './rule-names.js';
import { RulesSandbox, type SandboxOutput } from './sandbox.js';
import type { Expectation, OutputType, Scenario, ScenarioStep } from './scenario.js';
import { whyNot, type WhyNot } from './why.js';

/** A command, alert or dead letter that happened in a scenario. */
export interface Actual {
  readonly type: OutputType;
  /** Ms after the scenario's start. */
  readonly at: number;
  readonly target: string;
  readonly data: Readonly<Record<string, unknown>> | undefined;
  readonly rule: string | undefined;
  readonly message: string | undefined;
  /** The step whose reading caused it (its correlation id), if any. */
  readonly cause: ScenarioStep | undefined;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly passed: boolean;
  /** Set when the scenario could not run (a broken rule file): the runner's message. */
  readonly error: string | undefined;
  readonly matched: readonly { readonly expectation: Expectation; readonly actual: Actual }[];
  /** `why`: the rules that could have met it, judged at its time (why.ts). */
  readonly missing: readonly { readonly expectation: Expectation; readonly nearest: Actual | undefined; readonly why?: readonly WhyNot[] }[];
  /** Happened and not expected (a failure only when the scenario is strict). */
  readonly unexpected: readonly Actual[];
  readonly forbidden: readonly { readonly expectation: Expectation; readonly actual: Actual }[];
  readonly actual: readonly Actual[];
  /** Steps whose reading was history (older than the device's latest): stored, not ruled. */
  readonly history: readonly ScenarioStep[];
  /** Commands held back by a minimum on/off time, with `at` and `until` in ms after the start. */
  readonly held: readonly HeldBack[];
  /** Firings whose command lost the actuator to another rule's, with `at` in ms after the start. */
  readonly lost: readonly (Lost & { readonly at: number })[];
}

export interface RunOptions {
  readonly rulesDir: string;
  readonly log?: Logger;
}

function toActual(o: SandboxOutput, startMs: number, causes: ReadonlyMap<string, ScenarioStep>): Actual | undefined {
  const [root, ...rest] = o.topic.split('/');
  const p = o.payload;
  const rule = typeof p['source'] === 'string' ? p['source'].replace(/^rules\//, '') : undefined;
  const cause = typeof p['correlationid'] === 'string' ? causes.get(p['correlationid']) : undefined;
  const at = o.at - startMs;
  if (root === 'commands') return { type: 'command', at, target: rest.join('/'), data: p['data'] as Record<string, unknown>, rule, message: undefined, cause };
  if (root === 'alerts') {
    const data = p['data'] as { message?: string } | undefined;
    return { type: 'alert', at, target: rest.join('/'), data: undefined, rule, message: data?.message, cause };
  }
  if (o.topic === 'gateway/deadletter') return { type: 'deadletter', at, target: String(p['reason']), data: undefined, rule: undefined, message: String(p['detail']), cause: undefined };
  return undefined;
}

export function matches(e: Expectation, a: Actual): boolean {
  if (e.type !== a.type || e.target !== a.target) return false;
  if (e.rule !== undefined && e.rule !== a.rule) return false;
  if (e.data !== undefined && !Object.entries(e.data).every(([k, v]) => isDeepStrictEqual(a.data?.[k], v))) return false;
  if (e.message !== undefined && !(a.message ?? '').includes(e.message)) return false;
  if (e.at !== undefined && a.at !== e.at) return false;
  if (e.after !== undefined && a.at < e.after) return false;
  if (e.before !== undefined && a.at >= e.before) return false;
  return true;
}

/** The firings that would have met an expectation had their command not lost the actuator to another rule's. */
export function lostFor(e: Expectation, lost: ScenarioResult['lost']): ScenarioResult['lost'] {
  const as = (l: ScenarioResult['lost'][number]): Actual => ({ type: 'command', at: l.at, target: l.target, data: l.data, rule: l.rule, message: undefined, cause: undefined });
  return lost.filter((l) => matches(e, as(l)));
}

/** The output most like an expectation that did not happen: same target first, then nearest in time. */
function nearest(e: Expectation, pool: readonly Actual[]): Actual | undefined {
  const same = pool.filter((a) => a.type === e.type && a.target === e.target);
  const candidates = same.length > 0 ? same : pool.filter((a) => a.type === e.type);
  const when = e.at ?? e.after ?? e.before ?? 0;
  return candidates.reduce<Actual | undefined>((best, a) => (!best || Math.abs(a.at - when) < Math.abs(best.at - when) ? a : best), undefined);
}

/** Compares what happened with what a scenario expects. */
export function compare(scenario: Scenario, actual: readonly Actual[]): Omit<ScenarioResult, 'scenario' | 'error' | 'actual' | 'history' | 'held' | 'lost'> {
  const free = new Set(actual);
  const matched: { expectation: Expectation; actual: Actual }[] = [];
  const missing: { expectation: Expectation; nearest: Actual | undefined }[] = [];
  for (const expectation of scenario.expect) {
    const hit = actual.find((a) => free.has(a) && matches(expectation, a));
    if (hit) {
      free.delete(hit);
      matched.push({ expectation, actual: hit });
    } else missing.push({ expectation, nearest: nearest(expectation, [...free].length > 0 ? [...free] : actual) });
  }
  const forbidden = scenario.expectNot.flatMap((expectation) => actual.filter((a) => matches(expectation, a)).map((a) => ({ expectation, actual: a })));
  const forbiddenSet = new Set(forbidden.map((f) => f.actual));
  const unexpected = actual.filter((a) => free.has(a) && !forbiddenSet.has(a));
  const passed = missing.length === 0 && forbidden.length === 0 && (!scenario.strict || unexpected.length === 0);
  return { passed, matched, missing, unexpected, forbidden };
}

/** A logger that keeps what went wrong (a rule that throws must fail its scenario, not pass silently). */
function errorLog(): { log: Logger; errors: string[] } {
  const errors: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
        errors.push(`${entry.msg ?? 'error'}${entry.err?.message ? `: ${entry.err.message}` : ''}`);
      }
      done();
    },
  });
  return { log: pino({ level: 'error' }, stream), errors };
}

/** Runs one scenario on the gateway's rules path, on a manual clock. */
export async function runScenario(scenario: Scenario, o: RunOptions): Promise<ScenarioResult> {
  const { log, errors } = errorLog();
  const sandbox = await RulesSandbox.create({ rulesDir: o.rulesDir, ruleFiles: scenario.packs, startMs: scenario.startMs, log: o.log ?? log });
  try {
    const problems = sandbox.ruleProblems;
    const loaded = sandbox.service.runtime.rules.rules.map((r) => r.name);
    // Checked before running: a rule name that matches nothing would only show up as a mismatch.
    const unknown = loaded.length > 0 ? unknownRules(scenario, loaded) : [];
    if (problems.length > 0 || loaded.length === 0 || unknown.length > 0) {
      const error = problems.length > 0 ? problems.join('\n') : unknown.length > 0 ? unknown.join('\n') : `no rules in force: ${o.rulesDir} has no rule packs${scenario.packs ? ` named ${scenario.packs.join(', ')}` : ''}`;
      return { scenario, passed: false, error, matched: [], missing: [], unexpected: [], forbidden: [], actual: [], history: [], held: [], lost: [] };
    }
    // Each expectation's rules are judged at its time (`at`, else `before`, else the end), after the readings up to it: the state is gone later.
    const pending = scenario.expect.filter((e) => e.type !== 'deadletter').map((e) => ({ e, t: e.at ?? e.before ?? scenario.untilMs })).sort((a, b) => a.t - b.t);
    const why = new Map<Expectation, WhyNot[]>();
    const judgeBefore = async (ms: number) => {
      for (; pending.length > 0 && pending[0]!.t < ms; pending.shift()) {
        await sandbox.advanceTo(scenario.startMs + pending[0]!.t);
        why.set(pending[0]!.e, await whyNot(pending[0]!.e, sandbox.service.runtime, sandbox.readings, scenario.startMs, sandbox.clock.now()));
      }
    };
    for (const step of scenario.steps) {
      await judgeBefore(step.at);
      await sandbox.advanceTo(scenario.startMs + step.at);
      await sandbox.send(step.topic, step.payload);
    }
    await judgeBefore(Number.POSITIVE_INFINITY);
    await sandbox.advanceTo(scenario.startMs + scenario.untilMs);
    const causes = new Map(scenario.steps.filter((s) => s.id !== undefined).map((s) => [s.id!, s]));
    const actual = sandbox.outputs.map((out) => toActual(out, scenario.startMs, causes)).filter((a): a is Actual => a !== undefined);
    const historyIds = new Set(sandbox.readings.filter((r) => !r.current).map((r) => r.event.id));
    const history = scenario.steps.filter((s) => s.id !== undefined && historyIds.has(s.id));
    const held = sandbox.held.map((h) => ({ ...h, at: h.at - scenario.startMs, until: h.until - scenario.startMs }));
    const lost = sandbox.lost.map((l) => ({ ...l, at: l.at - scenario.startMs }));
    const compared = compare(scenario, actual);
    const missing = compared.missing.map((m) => ({ ...m, why: why.get(m.expectation) ?? [] }));
    const error = errors.length > 0 ? `the rules failed while it ran:\n${errors.join('\n')}` : undefined;
    return { scenario, error, actual, history, held, lost, ...compared, missing, passed: compared.passed && error === undefined };
  } finally {
    await sandbox.stop();
  }
}
