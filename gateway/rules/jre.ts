/**
 * json-rules-engine, loaded with a faster deep clone. Every rule evaluation builds a RuleResult
 * that deep-copies the rule's conditions and event with the `clone` package, which handles
 * circular references, Maps, Buffers and more by probing every value: the profile put that copy
 * at ~15% of the rules' time. Rule conditions are JSON turned into Condition objects, so a copy
 * that keeps prototypes and recurses through arrays and own properties gives the same result.
 * Everything in the gateway imports json-rules-engine from here (lint enforces it), so the
 * engine is first loaded with this copy in place. json-rules-engine is pinned to an exact version
 * in package.json; test/unit/jre.test.ts fails if an upgrade stops loading this clone.
 */
import { createRequire } from 'node:module';
import type * as JsonRulesEngine from 'json-rules-engine';

export function fastClone<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v: unknown) => fastClone(v)) as T;
  const copy = Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>;
  // for…in over own properties, in Object.keys' order, without allocating the keys array.
  for (const key in value) if (Object.hasOwn(value, key)) copy[key] = fastClone((value as Record<string, unknown>)[key]);
  return copy as T;
}

const require = createRequire(import.meta.url);
const enginePath = require.resolve('json-rules-engine');
const clonePath = createRequire(enginePath).resolve('clone');
if (!require.cache[enginePath]) {
  require.cache[clonePath] = { id: clonePath, filename: clonePath, loaded: true, exports: fastClone } as unknown as NodeJS.Module;
}

const jre = require('json-rules-engine') as typeof JsonRulesEngine;
/** False if json-rules-engine was loaded before this module (it then uses the slow clone). */
export const usesFastClone = require.cache[clonePath]?.exports === fastClone;

interface Prioritized {
  readonly priority?: number;
  readonly fact?: string;
}
/** What the grouping reads of its rule: the engine's facts (a fact's priority). */
interface GroupingContext {
  readonly engine: { getFact(id: string | undefined): { readonly priority?: number | undefined } | undefined };
}
type Grouping = (this: GroupingContext, conditions: readonly Prioritized[]) => readonly (readonly Prioritized[])[];
interface RuleInternals extends GroupingContext {
  prioritizeConditions: Grouping;
}

/** Priorities of the conditions being grouped (the grouping is synchronous: one scratch array serves every call). */
const scratch: number[] = [];

/**
 * json-rules-engine's grouping of an `all`/`any` by priority (the condition's, else its fact's,
 * else 1), highest first, each group in the conditions' order — the same answer, without the
 * object keyed by priority strings, `Object.keys`, a string sort and `map` on every group of
 * every rule evaluated: that was 16% of the bytes a commanding reading allocated in the rules.
 * A group of one priority (the usual case) is the conditions array itself, which the engine
 * only reads. test/unit/rules/jre.test.ts holds it to the original on random groups.
 */
export function prioritizeConditions(this: GroupingContext, conditions: readonly Prioritized[]): readonly (readonly Prioritized[])[] {
  const n = conditions.length;
  let max = Number.NEGATIVE_INFINITY;
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const c = conditions[i]!;
    let p = c.priority;
    if (!p) p = this.engine.getFact(c.fact)?.priority || 1;
    scratch[i] = p;
    if (p > max) max = p;
    if (p < min) min = p;
  }
  if (max === min) return [conditions];
  const sets: Prioritized[][] = [];
  for (let upper = Number.POSITIVE_INFINITY; ; ) {
    let next = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) if (scratch[i]! < upper && scratch[i]! > next) next = scratch[i]!;
    if (next === Number.NEGATIVE_INFINITY) return sets;
    const set: Prioritized[] = [];
    for (let i = 0; i < n; i++) if (scratch[i] === next) set.push(conditions[i]!);
    sets.push(set);
    upper = next;
  }
}

const ruleProto = jre.Rule.prototype as unknown as RuleInternals;
/** json-rules-engine's own grouping, for the test that holds ours to it. */
export const originalPrioritizeConditions = ruleProto.prioritizeConditions;
if (typeof originalPrioritizeConditions !== 'function') throw new Error('json-rules-engine internals changed: update gateway/rules/jre.ts');
ruleProto.prioritizeConditions = prioritizeConditions;

interface Emitter {
  _events?: Record<string, unknown>;
  _all?: unknown;
  wildcard?: boolean;
  emitAsync: (this: Emitter, type: string, ...args: unknown[]) => Promise<unknown>;
}
const RESOLVED: Promise<unknown> = Promise.resolve([]);

/**
 * An engine and each of its rules announce every evaluation with `emitAsync` (a rule's success
 * or failure, the engine's, the event's type): two or three a rule evaluated, each a
 * `Promise.all` over the listeners. The gateway listens to none; for an event nobody listens to,
 * this answers with a resolved promise at once, as eventemitter2 would after its `Promise.all` of
 * nothing. A listener added later is heard as before.
 */
function emitAsyncHeard(this: Emitter, type: string, ...args: unknown[]): Promise<unknown> {
  // 'error' with no listener rejects in eventemitter2: left to it.
  if (type === 'error' || this._all || this.wildcard || (this._events && this._events[type] !== undefined)) return emitAsync.call(this, type, ...args);
  return RESOLVED;
}
/** eventemitter2's, which engines and rules both inherit. */
const { emitAsync } = Object.getPrototypeOf(jre.Engine.prototype) as Emitter;
if (typeof emitAsync !== 'function' || emitAsync !== (Object.getPrototypeOf(jre.Rule.prototype) as Emitter).emitAsync) {
  throw new Error('json-rules-engine internals changed: update gateway/rules/jre.ts');
}

/** After its rules are added: the engine and its rules skip announcing to nobody (see emitAsyncHeard). */
export function quietUnheard(engine: JsonRulesEngine.Engine): void {
  const e = engine as unknown as Emitter & { rules?: Emitter[] };
  if (!Array.isArray(e.rules)) throw new Error('json-rules-engine internals changed: update gateway/rules/jre.ts');
  e.emitAsync = emitAsyncHeard;
  for (const rule of e.rules) rule.emitAsync = emitAsyncHeard;
}

export const { Engine, Rule } = jre;
export type Engine = JsonRulesEngine.Engine;
export type Rule = JsonRulesEngine.Rule;
export type { TopLevelCondition } from 'json-rules-engine';
