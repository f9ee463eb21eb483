import type { DecidingFact } from '../core/events.js';
import { admitsPlace, decidingFacts } from '../rules/engine.js';
import { addFacts, type FactContext } from '../rules/facts.js';
import { Engine, type TopLevelCondition } from '../rules/jre.js';
import { addOperators } from '../rules/operators.js';
import type { RuleDefinition } from '../rules/pack.js';
import type { RulesRuntime } from '../rules/runtime.js';
import type { SandboxReading } from './sandbox.js';
import type { Expectation } from './scenario.js';

/**
 * Why an expected command or alert did not come: the rules that could have sent it, judged at
 * the expectation's time on the scenario's state then. Lab only (rules:test): the gateway's
 * reading path neither records nor computes any of it. Each top-level condition is judged by a
 * json-rules-engine run of its own, with the gateway's facts and operators, so every one shows
 * its fact's value (a run of the whole rule stops at the first false group), and a rule the
 * precheck kept from the engine is judged as the engine would have.
 */

/** One top-level condition as judged: a leaf, or a nested group with the leaves the engine evaluated. */
export interface WhyCondition {
  readonly group: 'all' | 'any' | 'not' | undefined;
  readonly facts: readonly DecidingFact[];
  readonly result: boolean;
}

export interface WhyNot {
  readonly rule: string;
  /** Ms after the start. */
  readonly at: number;
  /** The reading judged: the last of the rule's kinds where the expectation points, up to then; undefined when none came. */
  readonly reading: { readonly id: string; readonly source: string; readonly at: number } | undefined;
  /** The kinds it reads and where (for "no reading"). */
  readonly wanted: string;
  /** How the top-level conditions combine. */
  readonly join: 'all' | 'any' | 'not';
  readonly conditions: readonly WhyCondition[];
  /** Every condition held: it would fire then (what it sent went elsewhere, or was held back). */
  readonly held: boolean;
}

type Where = { readonly site: string; readonly zone?: string; readonly device?: string };

/** The place a rule's output to the expectation's target comes from: a zone-scoped command's zone, else the site. */
function placeOf(e: Expectation, rule: RuleDefinition): Where {
  const [site = '', zone] = e.target.split('/');
  return rule.event.type === 'command' && rule.event.params.scope !== 'site' ? { site, zone } : { site };
}

/** The rules whose event would meet the expectation: a command to the same actuator (of its rule, when it names one), an alert of its rule or severity. */
function rulesFor(e: Expectation, rules: readonly RuleDefinition[]): RuleDefinition[] {
  const [, second, actuator] = e.target.split('/');
  return rules.filter((r) => {
    if (e.rule !== undefined && r.name !== e.rule) return false;
    if (e.type === 'command' && (r.event.type !== 'command' || r.event.params.actuator !== actuator)) return false;
    if (e.type === 'alert' && (r.event.type !== 'alert' || (e.rule === undefined && r.event.params.severity !== second))) return false;
    // A rule limited to another zone never commands this one (unless the expectation names it: then that is the why).
    return e.type !== 'deadletter' && (e.rule !== undefined || admitsPlace(r, placeOf(e, r)));
  });
}

/** Judges each top-level condition on its own: its verdict and the facts behind it. */
async function judge(conditions: readonly unknown[], ctx: FactContext): Promise<WhyCondition[]> {
  const engine = new Engine([], { allowUndefinedFacts: true });
  addOperators(engine);
  addFacts(engine, () => ctx);
  conditions.forEach((c, i) => engine.addRule({ name: String(i), conditions: { all: [c] } as TopLevelCondition, event: { type: 'why' } }));
  const { results, failureResults } = await engine.run();
  const byName = new Map([...results, ...failureResults].map((r) => [r.name, r]));
  return conditions.map((c, i) => {
    const r = byName.get(String(i));
    const node = (r?.conditions as { all?: unknown[] } | undefined)?.all?.[0];
    const n = c as Record<string, unknown>;
    const group = Array.isArray(n['all']) ? 'all' : Array.isArray(n['any']) ? 'any' : 'not' in n ? 'not' : undefined;
    return { group, facts: decidingFacts(node), result: r?.result === true };
  });
}

/** Why the rules that could have met an expectation did not, judged at `now` (the clock's time; `startMs`: the scenario's start). */
export async function whyNot(e: Expectation, runtime: RulesRuntime, readings: readonly SandboxReading[], startMs: number, now: number): Promise<WhyNot[]> {
  const out: WhyNot[] = [];
  for (const rule of rulesFor(e, runtime.rules.rules)) {
    const where = placeOf(e, rule);
    const wanted = `${rule.kinds.length > 0 ? rule.kinds.join('/') : 'any'} reading in ${where.site}${where.zone ? `/${where.zone}` : ''}`;
    const fits = readings.filter((r) => r.current && (rule.kinds.length === 0 || rule.kinds.includes(r.event.kind)) && r.event.site === where.site && (where.zone === undefined || r.event.zone === where.zone));
    // The last one the rule's own site/zone/device conditions admit, else the last there.
    const chosen = fits.findLast((r) => admitsPlace(rule, r.event)) ?? fits.at(-1);
    const top = rule.conditions as Record<string, unknown>;
    const join = Array.isArray(top['any']) ? 'any' : Array.isArray(top['all']) ? 'all' : 'not';
    const base = { rule: rule.name, at: now - startMs, wanted, join } as const;
    if (!chosen) {
      out.push({ ...base, reading: undefined, conditions: [], held: false });
      continue;
    }
    const list = Array.isArray(top[join]) ? (top[join] as unknown[]) : [top];
    const ctx: FactContext = { reading: chosen.event, now, state: runtime.state, series: runtime.series, watches: runtime.watches, actuator: (s, z, a) => runtime.dispatcher.actuatorData(s, z, a) };
    const conditions = await judge(list, ctx);
    const held = join === 'any' ? conditions.some((c) => c.result) : conditions.every((c) => c.result);
    out.push({ ...base, reading: { id: chosen.event.id, source: chosen.event.source, at: chosen.at - startMs }, conditions, held });
  }
  return out;
}
