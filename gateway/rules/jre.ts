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
  for (const key of Object.keys(value)) copy[key] = fastClone((value as Record<string, unknown>)[key]);
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
export const { Engine, Rule } = jre;
export type Engine = JsonRulesEngine.Engine;
export type Rule = JsonRulesEngine.Rule;
export type { TopLevelCondition } from 'json-rules-engine';
