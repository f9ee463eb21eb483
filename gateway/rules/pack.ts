import { Ajv, type ErrorObject } from 'ajv';
import { Rule, type TopLevelCondition } from 'json-rules-engine';
import { KIND_NAMES, isKind, type Kind } from '../ingest/kinds.js';
import { FACT_NAMES } from './facts.js';
import { OPERATOR_NAMES } from './operators.js';

/** A rule as it appears in a pack file: json-rules-engine's rule, plus `kinds`. */
export interface RuleDefinition {
  readonly name: string;
  readonly description?: string;
  readonly priority?: number;
  /** The reading kinds this rule reads; inferred from a `kind` condition when absent; empty = every kind. */
  readonly kinds: readonly Kind[];
  readonly conditions: TopLevelCondition;
  readonly event: RuleEvent;
  /** The file it came from (for errors and logs). */
  readonly file: string;
}

export interface CommandParams {
  readonly actuator: string;
  readonly type?: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** `zone` (default): the reading's zone; `site`: every zone of the reading's site. */
  readonly scope?: 'zone' | 'site';
}

export interface AlertParams {
  readonly severity: 'info' | 'warning' | 'critical';
  /** `{{device}}`, `{{zone}}`, `{{site}}`, `{{kind}}` and `{{value}}` are filled in. */
  readonly message: string;
  readonly type?: string;
  /** Do not repeat this alert for the same zone within this many seconds. */
  readonly repeatAfterSeconds?: number;
}

export type RuleEvent = { readonly type: 'command'; readonly params: CommandParams } | { readonly type: 'alert'; readonly params: AlertParams };

const SEGMENT = '^[A-Za-z0-9_-]{1,64}$';

const packSchema = {
  type: 'object',
  required: ['rules'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'conditions', 'event'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          description: { type: 'string' },
          priority: { type: 'integer', minimum: 1 },
          kinds: { type: 'array', items: { enum: KIND_NAMES } },
          conditions: { type: 'object' },
          event: {
            type: 'object',
            required: ['type', 'params'],
            additionalProperties: false,
            properties: {
              type: { enum: ['command', 'alert'] },
              params: { type: 'object' },
            },
            if: { properties: { type: { const: 'command' } } },
            then: {
              properties: {
                params: {
                  type: 'object',
                  required: ['actuator', 'data'],
                  additionalProperties: false,
                  properties: {
                    actuator: { type: 'string', pattern: SEGMENT },
                    type: { type: 'string', minLength: 1 },
                    data: { type: 'object' },
                    scope: { enum: ['zone', 'site'] },
                  },
                },
              },
            },
            else: {
              properties: {
                params: {
                  type: 'object',
                  required: ['severity', 'message'],
                  additionalProperties: false,
                  properties: {
                    severity: { enum: ['info', 'warning', 'critical'] },
                    message: { type: 'string', minLength: 1 },
                    type: { type: 'string', minLength: 1 },
                    repeatAfterSeconds: { type: 'number', minimum: 0 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: false });
const validatePack = ajv.compile(packSchema);

export class RuleFileError extends Error {
  override readonly name = 'RuleFileError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
  }
}

function jsonPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

function describe(e: ErrorObject): string {
  const where = jsonPath(e.instancePath) || '(top level)';
  if (e.keyword === 'additionalProperties') return `${where}: unknown property ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === 'enum') return `${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return `${where}: ${e.message ?? 'is invalid'}`;
}

function lineAndColumn(text: string, message: string): string {
  const position = /position (\d+)/.exec(message)?.[1];
  if (position === undefined) return message;
  const before = text.slice(0, Number(position));
  const line = before.split('\n').length;
  const column = Number(position) - before.lastIndexOf('\n');
  return `${message.replace(/ in JSON at position \d+.*$/, '')} at line ${line}, column ${column}`;
}

type ConditionNode = Record<string, unknown>;

/** Walks a condition tree: checks facts, operators and kinds; collects kinds a rule tests with `kind`. */
function checkConditions(node: unknown, where: string, problems: string[], kinds: Set<Kind>): void {
  if (typeof node !== 'object' || node === null) {
    problems.push(`${where}: must be a condition object`);
    return;
  }
  const n = node as ConditionNode;
  for (const group of ['all', 'any'] as const) {
    if (group in n) {
      const list = n[group];
      if (!Array.isArray(list)) problems.push(`${where}.${group}: must be an array of conditions`);
      else list.forEach((child, i) => checkConditions(child, `${where}.${group}[${i}]`, problems, kinds));
      return;
    }
  }
  if ('not' in n) return checkConditions(n['not'], `${where}.not`, problems, kinds);
  if ('condition' in n) return;
  const fact = n['fact'];
  const operator = n['operator'];
  if (typeof fact !== 'string') problems.push(`${where}: needs "fact" (one of ${FACT_NAMES.join(', ')}) or all/any/not`);
  else if (!FACT_NAMES.includes(fact)) problems.push(`${where}: unknown fact ${JSON.stringify(fact)} (known: ${FACT_NAMES.join(', ')})`);
  if (typeof operator !== 'string') problems.push(`${where}: needs "operator"`);
  else if (!OPERATOR_NAMES.includes(operator)) problems.push(`${where}: unknown operator ${JSON.stringify(operator)} (known: ${OPERATOR_NAMES.join(', ')})`);
  if (!('value' in n)) problems.push(`${where}: needs "value"`);
  const value = n['value'];
  if (fact === 'kind' && operator === 'equal' && typeof value === 'string') {
    if (isKind(value)) kinds.add(value);
    else problems.push(`${where}.value: unknown kind ${JSON.stringify(value)}`);
  }
  const params = n['params'] as Record<string, unknown> | undefined;
  if (params && typeof params['kind'] === 'string' && !isKind(params['kind'])) problems.push(`${where}.params.kind: unknown kind ${JSON.stringify(params['kind'])}`);
}

/**
 * Parses and checks one rule pack file. Throws RuleFileError with every problem found, each
 * prefixed by where it is (`rules[2].event.params.actuator: must match …`).
 */
export function parseRulePack(file: string, text: string): RuleDefinition[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RuleFileError(file, [`not valid JSON: ${lineAndColumn(text, (err as Error).message)}`]);
  }
  if (!validatePack(doc)) throw new RuleFileError(file, (validatePack.errors ?? []).filter((e) => e.keyword !== 'if').map(describe));
  const problems: string[] = [];
  const rules: RuleDefinition[] = [];
  const names = new Set<string>();
  const raw = (doc as { rules: Omit<RuleDefinition, 'file' | 'kinds'>[] & { kinds?: Kind[] }[] }).rules as (Omit<RuleDefinition, 'file' | 'kinds'> & { kinds?: Kind[] })[];
  raw.forEach((r, i) => {
    const where = `rules[${i}] (${r.name})`;
    if (names.has(r.name)) problems.push(`${where}: duplicate rule name`);
    names.add(r.name);
    const inferred = new Set<Kind>();
    const before = problems.length;
    checkConditions(r.conditions, `${where}.conditions`, problems, inferred);
    if (problems.length === before) {
      try {
        new Rule({ name: r.name, conditions: r.conditions, event: r.event, priority: r.priority ?? 1 });
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
    }
    rules.push({ ...r, kinds: r.kinds ?? [...inferred], file });
  });
  if (problems.length > 0) throw new RuleFileError(file, problems);
  return rules;
}
