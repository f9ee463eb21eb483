import { Engine } from 'json-rules-engine';
import { KIND_NAMES, type Kind } from '../ingest/kinds.js';
import { addFacts, type FactContext } from './facts.js';
import type { RuleSet } from './loader.js';
import { addOperators } from './operators.js';
import type { RuleDefinition, RuleEvent } from './pack.js';
import type { WindowNeed } from './series.js';
import type { WatchSpec } from './watches.js';

export interface Firing {
  readonly rule: RuleDefinition;
  readonly event: RuleEvent;
}

interface Compiled {
  readonly engine: Engine;
  readonly rules: ReadonlyMap<string, RuleDefinition>;
}

/**
 * The rules in force, indexed: one json-rules-engine Engine per reading kind holding only the
 * rules that read it, so a reading never runs rules it cannot fire; and one per watch (held
 * for, absence) holding the rules its timer wakes. Runs go one at a time (the caller chains
 * them), which keeps each run's facts and the order of commands deterministic.
 */
export class RulesEngine {
  private readonly byKind = new Map<Kind, Compiled>();
  private readonly byWatch = new Map<string, Compiled>();
  private current: FactContext | undefined;
  readonly watches: readonly WatchSpec[];
  readonly windows: readonly WindowNeed[];

  constructor(readonly set: RuleSet) {
    const { rules } = set;
    for (const kind of KIND_NAMES) {
      const forKind = rules.filter((r) => r.kinds.length === 0 || r.kinds.includes(kind));
      if (forKind.length > 0) this.byKind.set(kind, this.compile(forKind));
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
  }

  /** How many rules a reading of this kind runs through. */
  rulesFor(kind: Kind): number {
    return this.byKind.get(kind)?.rules.size ?? 0;
  }

  /** Whether some rule waits on this watch's timer. */
  wakes(watchId: string): boolean {
    return this.byWatch.has(watchId);
  }

  /** Runs a reading through its kind's rules; firings come highest priority first. */
  evaluate(ctx: FactContext): Promise<Firing[]> {
    return this.run(this.byKind.get(ctx.reading.kind), ctx);
  }

  /** Runs the rules a watch's timer wakes, with the watch's latest reading as the context. */
  evaluateWatch(watchId: string, ctx: FactContext): Promise<Firing[]> {
    return this.run(this.byWatch.get(watchId), ctx);
  }

  private compile(rules: readonly RuleDefinition[]): Compiled {
    const engine = new Engine([], { allowUndefinedFacts: true });
    addOperators(engine);
    addFacts(engine, () => {
      if (!this.current) throw new Error('a fact was read outside a rule run');
      return this.current;
    });
    for (const r of rules) engine.addRule({ name: r.name, priority: r.priority ?? 1, conditions: r.conditions, event: r.event });
    return { engine, rules: new Map(rules.map((r) => [r.name, r])) };
  }

  private async run(compiled: Compiled | undefined, ctx: FactContext): Promise<Firing[]> {
    if (!compiled) return [];
    this.current = ctx;
    try {
      const { results } = await compiled.engine.run();
      const firings: Firing[] = [];
      for (const result of results.sort((a, b) => (b.priority ?? 1) - (a.priority ?? 1))) {
        const rule = compiled.rules.get(result.name);
        if (rule) firings.push({ rule, event: rule.event });
      }
      return firings;
    } finally {
      this.current = undefined;
    }
  }
}
