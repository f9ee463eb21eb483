import { Engine } from 'json-rules-engine';
import type { ReadingEvent } from '../events.js';
import { KIND_NAMES, type Kind } from '../ingest/kinds.js';
import { addStateFacts, readingFacts, type FactContext } from './facts.js';
import { addOperators } from './operators.js';
import type { RuleDefinition, RuleEvent } from './pack.js';
import type { ZoneState } from './state.js';

export interface Firing {
  readonly rule: RuleDefinition;
  readonly event: RuleEvent;
}

/**
 * The rules in force, indexed by kind: one json-rules-engine Engine per kind holding only the
 * rules that read it, so a reading never runs rules it cannot fire. Evaluations run one at a
 * time (a chain), which keeps each reading's facts and the order of commands deterministic.
 */
export class RulesEngine {
  private readonly engines = new Map<Kind, { engine: Engine; rules: Map<string, RuleDefinition> }>();
  private current: FactContext | undefined;

  constructor(
    private readonly state: ZoneState,
    rules: readonly RuleDefinition[],
  ) {
    const context = (): FactContext => {
      if (!this.current) throw new Error('a fact was read outside a rule run');
      return this.current;
    };
    for (const kind of KIND_NAMES) {
      const forKind = rules.filter((r) => r.kinds.length === 0 || r.kinds.includes(kind));
      if (forKind.length === 0) continue;
      const engine = new Engine([], { allowUndefinedFacts: true });
      addOperators(engine);
      addStateFacts(engine, context);
      for (const r of forKind) engine.addRule({ name: r.name, priority: r.priority ?? 1, conditions: r.conditions, event: r.event });
      this.engines.set(kind, { engine, rules: new Map(forKind.map((r) => [r.name, r])) });
    }
  }

  /** How many rules a reading of this kind runs through. */
  rulesFor(kind: Kind): number {
    return this.engines.get(kind)?.rules.size ?? 0;
  }

  /** Runs a reading through its kind's rules; firings come highest priority first. */
  async evaluate(reading: ReadingEvent): Promise<Firing[]> {
    const entry = this.engines.get(reading.kind);
    if (!entry) return [];
    this.current = { reading, state: this.state };
    try {
      const { results } = await entry.engine.run(readingFacts(reading));
      const firings: Firing[] = [];
      for (const result of results.sort((a, b) => (b.priority ?? 1) - (a.priority ?? 1))) {
        const rule = entry.rules.get(result.name);
        if (rule) firings.push({ rule, event: rule.event });
      }
      return firings;
    } finally {
      this.current = undefined;
    }
  }
}
