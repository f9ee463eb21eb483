import type { DecidingFact } from '../core/events.js';
import { Engine, quietUnheard, type TopLevelCondition } from './jre.js';
import { kindNames, type Kind } from '../core/kinds.js';
import { addFacts, type FactContext } from './facts.js';
import { factsRead } from './conditions.js';
import { compileCheck, type Check } from './precheck.js';
import type { RuleSet } from './loader.js';
import { addOperators } from './operators.js';
import type { RuleDefinition, RuleEvent } from './pack.js';
import type { WindowNeed } from './series.js';
import type { WatchSpec } from './watches.js';

export interface Firing {
  readonly rule: RuleDefinition;
  readonly event: RuleEvent;
  /** The conditions as they were judged (json-rules-engine's annotated result): what decided it. */
  readonly facts?: readonly DecidingFact[];
}

/** The leaves of an evaluated condition tree, as json-rules-engine annotates them (once per firing: no arrays or key lists built to walk it). */
export function decidingFacts(node: unknown, out: DecidingFact[] = []): DecidingFact[] {
  if (typeof node !== 'object' || node === null) return out;
  const n = node as Record<string, unknown>;
  const { all, any } = n;
  if (Array.isArray(all)) for (const c of all as unknown[]) decidingFacts(c, out);
  if (Array.isArray(any)) for (const c of any as unknown[]) decidingFacts(c, out);
  if ('not' in n) decidingFacts(n['not'], out);
  if (typeof n['fact'] === 'string' && 'factResult' in n) {
    const params = n['params'] as Record<string, unknown> | undefined;
    const fact = n['fact'];
    const operator = String(n['operator']);
    const { value, factResult } = n;
    const result = n['result'] === true;
    // Two literals rather than a spread (a slow copy per leaf); the keys keep their order in the stored JSON.
    out.push(params && hasKeys(params) ? { fact, params: shortParams(params), operator, value, factResult, result } : { fact, operator, value, factResult, result });
  }
  return out;
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** The params as the rule's author wrote them (not the normal form's `forMs`, `watch`, … ). */
function shortParams(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in params) if (Object.hasOwn(params, k) && !k.endsWith('Ms') && k !== 'watch' && k !== 'rising' && k !== 'on' && k !== 'off' && k !== 'equalsNumeric') out[k] = params[k];
  return out;
}

/**
 * The order firings come in, which decides between commands to one actuator (actions.ts): the
 * highest priority first; of equal priorities, the rule whose name sorts first (plain character
 * order, as `rules:test` and the trace say). json-rules-engine gives equal priorities in the
 * order their evaluations finish, which follows the pack files' names and how many conditions
 * each rule has: renaming a file could flip which command goes out.
 */
function firstFiring(a: { readonly name: string; readonly priority?: number }, b: { readonly name: string; readonly priority?: number }): number {
  return (b.priority ?? 1) - (a.priority ?? 1) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export interface Compiled {
  readonly engine: Engine;
  readonly rules: ReadonlyMap<string, RuleDefinition>;
}

/** The rules a reading's kind and device select, and the engines for the subsets that can fire. */
interface Route {
  readonly rules: readonly RuleDefinition[];
  /** Each rule's conditions, compiled once per pack load (see precheck). */
  readonly checks: readonly Check[];
  readonly byMask: Map<number, Compiled>;
}

/** Past this many rules in one route, all are run (a mask is one 32-bit number). */
const MAX_PRECHECKED = 31;

type Where = 'site' | 'zone' | 'device';

/** The sites, zones or devices a rule is limited to by top-level `equal`/`in` conditions. */
type Selector = Partial<Record<Where, ReadonlySet<string>>>;

function selectorOf(rule: RuleDefinition): Selector | undefined {
  const all = (rule.conditions as { all?: unknown }).all;
  if (!Array.isArray(all)) return undefined;
  const selector: { -readonly [K in Where]?: ReadonlySet<string> } = {};
  for (const c of all as { fact?: unknown; operator?: unknown; value?: unknown; path?: unknown }[]) {
    if ((c.fact !== 'site' && c.fact !== 'zone' && c.fact !== 'device') || c.path !== undefined) continue;
    if (c.operator === 'equal' && typeof c.value === 'string') selector[c.fact] = new Set([c.value]);
    else if (c.operator === 'in' && Array.isArray(c.value)) selector[c.fact] = new Set(c.value.filter((v): v is string => typeof v === 'string'));
  }
  return Object.keys(selector).length > 0 ? selector : undefined;
}

const selects = (s: Selector | undefined, r: { site: string; zone: string; device: string }, anyZone = false, anyDevice = false): boolean =>
  !s || ((!s.site || s.site.has(r.site)) && (anyZone || !s.zone || s.zone.has(r.zone)) && (anyDevice || !s.device || s.device.has(r.device)));

/** Whether a rule's top-level site/zone/device conditions admit a place (a part not given is not judged): the engine's own selection, for rules:test's "why". */
export function admitsPlace(rule: RuleDefinition, where: { readonly site: string; readonly zone?: string | undefined; readonly device?: string | undefined }): boolean {
  return selects(selectorOf(rule), { site: where.site, zone: where.zone ?? '', device: where.device ?? '' }, where.zone === undefined, where.device === undefined);
}

/** Past this many devices, the cache of which engine serves which is started afresh. */
const MAX_ROUTES = 50_000;

export interface RulesEngineOptions {
  /** Routes (source and kind) cached before the cache is started afresh; default 50,000 (tests give fewer). */
  readonly maxRoutes?: number;
  /** The cache was started afresh, holding `routes`: that many devices, or made-up ids (churn); counted and said by the caller. */
  readonly onRoutesReset?: (routes: number) => void;
}

/**
 * The rules in force, indexed: a reading runs only through the rules that read its kind, and
 * of those only the ones whose top-level `site`/`zone`/`device` conditions can match it (so
 * 40 zones with 5 rules each cost a reading 5 rules, not 200); each distinct set of rules is
 * one json-rules-engine Engine, shared by the readings it serves. A watch (held for, absence)
 * has an Engine with the rules its timer wakes. Runs go one at a time (the caller chains
 * them), which keeps each run's facts and the order of commands deterministic.
 */
export class RulesEngine {
  private readonly byKind = new Map<Kind, { readonly rules: readonly RuleDefinition[]; readonly selectors: readonly (Selector | undefined)[]; readonly all?: Route }>();
  private readonly bySignature = new Map<string, Compiled>();
  /** By kind, then by source (no key built per reading). */
  private readonly routes = new Map<Kind, Map<string, Route | null>>();
  private routeCount = 0;
  private readonly checks = new Map<RuleDefinition, Check>();
  private readonly byWatch = new Map<string, Compiled>();
  /** Per alert rule with `clearWhen`: an engine holding the clear condition as its one rule. */
  private readonly byClear = new Map<string, Compiled>();
  private current: FactContext | undefined;
  readonly watches: readonly WatchSpec[];
  readonly windows: readonly WindowNeed[];

  constructor(
    readonly set: RuleSet,
    private readonly options: RulesEngineOptions = {},
  ) {
    const { rules } = set;
    for (const kind of kindNames()) {
      const forKind = rules.filter((r) => r.kinds.length === 0 || r.kinds.includes(kind));
      if (forKind.length === 0) continue;
      const selectors = forKind.map(selectorOf);
      // Without site/zone/device conditions every reading of the kind runs the same rules.
      this.byKind.set(kind, { rules: forKind, selectors, ...(selectors.some(Boolean) ? {} : { all: this.newRoute(forKind) }) });
    }
    const watches = new Map<string, WatchSpec>();
    for (const r of rules) for (const w of r.watches) watches.set(w.id, w);
    this.watches = [...watches.values()];
    for (const w of this.watches) {
      // Hysteresis changes state on readings only; it never needs a timer.
      if (w.type === 'hysteresis') continue;
      this.byWatch.set(w.id, this.compile(rules.filter((r) => r.watches.some((x) => x.id === w.id))));
    }
    this.windows = rules.flatMap((r) => r.windows);
    for (const r of rules) {
      const when = r.alarm?.clearWhen;
      if (!when) continue;
      const conditions = ('all' in when || 'any' in when || 'not' in when ? when : { all: [when] }) as TopLevelCondition;
      this.byClear.set(r.name, this.compile([{ ...r, conditions }]));
    }
    this.byName = new Map(rules.map((r) => [r.name, r]));
  }

  private readonly byName: ReadonlyMap<string, RuleDefinition>;

  rule(name: string): RuleDefinition | undefined {
    return this.byName.get(name);
  }

  /** Whether a rule's alarm has a clear condition. */
  hasClear(rule: string): boolean {
    return this.byClear.has(rule);
  }

  /** True when the rule's clear condition holds for this reading. */
  async clears(rule: string, ctx: FactContext): Promise<boolean> {
    const compiled = this.byClear.get(rule);
    if (!compiled) return false;
    return (await this.run(compiled, ctx)).length > 0;
  }

  /** How many rules a reading of this kind runs through. */
  rulesFor(kind: Kind): number {
    return this.byKind.get(kind)?.rules.length ?? 0;
  }

  /** Whether some rule waits on this watch's timer. */
  wakes(watchId: string): boolean {
    return this.byWatch.has(watchId);
  }

  /**
   * Runs a reading through the rules of its kind that can fire (see precheck: the others cannot,
   * and json-rules-engine decides for the rest); firings come highest priority first, then by rule name.
   */
  evaluate(ctx: FactContext): Promise<Firing[]> {
    const selected = this.select(ctx);
    return selected ? this.run(selected, ctx) : Promise.resolve([]);
  }

  /** The engine holding the rules this reading can fire, or undefined when it fires none (synchronous). */
  select(ctx: FactContext): Compiled | undefined {
    const route = this.route(ctx.reading);
    if (!route) return undefined;
    const { rules, checks } = route;
    if (rules.length > MAX_PRECHECKED) return this.compiled(route, rules, -1);
    let mask = 0;
    for (let i = 0; i < checks.length; i++) if (checks[i]!(ctx) !== false) mask |= 1 << i;
    return mask === 0 ? undefined : this.compiled(route, rules, mask);
  }

  /** The engine for the rules of a route that a mask keeps (-1: all), shared by signature. */
  private compiled(route: Route, rules: readonly RuleDefinition[], mask: number): Compiled {
    let compiled = route.byMask.get(mask);
    if (compiled) return compiled;
    const chosen = mask === -1 ? rules : rules.filter((_, i) => (mask & (1 << i)) !== 0);
    const signature = chosen.map((x) => x.name).join('\n');
    compiled = this.bySignature.get(signature);
    if (!compiled) this.bySignature.set(signature, (compiled = this.compile(chosen)));
    route.byMask.set(mask, compiled);
    return compiled;
  }

  private newRoute(rules: readonly RuleDefinition[]): Route {
    const checks = rules.map((r) => {
      let check = this.checks.get(r);
      if (!check) this.checks.set(r, (check = compileCheck(r.conditions)));
      return check;
    });
    return { rules, checks, byMask: new Map() };
  }

  /** Runs the rules a watch's timer wakes, with the watch's latest reading as the context. */
  evaluateWatch(watchId: string, ctx: FactContext): Promise<Firing[]> {
    return this.run(this.byWatch.get(watchId), ctx);
  }

  /** The rules a reading's kind and device select (by their site/zone/device conditions). */
  private route(r: FactContext['reading']): Route | undefined {
    const entry = this.byKind.get(r.kind);
    if (!entry || entry.all) return entry?.all;
    let bySource = this.routes.get(r.kind);
    const known = bySource?.get(r.source);
    if (known !== undefined) return known ?? undefined;
    const chosen = entry.rules.filter((_, i) => selects(entry.selectors[i], r));
    const route = chosen.length === 0 ? null : this.newRoute(chosen);
    if (this.routeCount >= (this.options.maxRoutes ?? MAX_ROUTES)) {
      this.options.onRoutesReset?.(this.routeCount);
      this.routes.clear();
      this.routeCount = 0;
      bySource = undefined;
    }
    if (!bySource) this.routes.set(r.kind, (bySource = new Map<string, Route | null>()));
    bySource.set(r.source, route);
    this.routeCount++;
    return route ?? undefined;
  }

  private compile(rules: readonly RuleDefinition[]): Compiled {
    const engine = new Engine([], { allowUndefinedFacts: true });
    addOperators(engine);
    const read = new Set<string>();
    for (const r of rules) factsRead(r.conditions, read);
    addFacts(
      engine,
      () => {
        if (!this.current) throw new Error('a fact was read outside a rule run');
        return this.current;
      },
      read,
    );
    for (const r of rules) engine.addRule({ name: r.name, priority: r.priority ?? 1, conditions: r.conditions, event: r.event });
    quietUnheard(engine);
    return { engine, rules: new Map(rules.map((r) => [r.name, r])) };
  }

  async run(compiled: Compiled | undefined, ctx: FactContext): Promise<Firing[]> {
    if (!compiled) return [];
    this.current = ctx;
    try {
      const { results } = await compiled.engine.run();
      const firings: Firing[] = [];
      // Sorted only when there is something to order: sort allocates even for one result.
      for (const result of results.length > 1 ? results.sort(firstFiring) : results) {
        const rule = compiled.rules.get(result.name);
        if (rule) firings.push({ rule, event: rule.event, facts: decidingFacts(result.conditions) });
      }
      return firings;
    } finally {
      this.current = undefined;
    }
  }
}
